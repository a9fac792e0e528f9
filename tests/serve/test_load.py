"""``verticalize serve`` under load: a burst of concurrent requests from a bounded client on 127.0.0.1 --
every request answered (200) or refused at once (503 + Retry-After), malformed ones 400, clients that
hang up mid-stream do not hurt, nothing hangs, and the server serves normally afterwards."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from verticalize.serve import Limits, create_app, load_chat_model, start_server

Q = [{"role": "user", "content": "Net income 120, revenue 1000: what is the net margin?"}]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def cm():
    from verticalize.models.offline import offline_model_dir

    return load_chat_model(offline_model_dir("tiny"), name="tiny")  # a plain transformers dir: no training needed


def _health(url: str) -> dict:
    return httpx.get(url.removesuffix("/v1") + "/health", timeout=10).json()


async def _one(client: httpx.AsyncClient, url: str, i: int) -> tuple[str, int, str]:
    """One request of the burst: kind, status, and what came back (checked by the caller)."""
    if i % 10 == 3:  # malformed: refused with 400 even when the server is busy
        r = await client.post(f"{url}/chat/completions", content=b'{"messages": [', headers={"content-type":
                                                                                            "application/json"})
        return "bad", r.status_code, r.text
    body = {"model": "tiny", "messages": Q, "max_tokens": 4, "temperature": 1.0}
    if i % 3 == 0:  # streaming; every 7th of these hangs up after the first event
        hang_up = i % 7 == 0
        async with client.stream("POST", f"{url}/chat/completions", json={**body, "stream": True}) as r:
            if r.status_code != 200:
                await r.aread()
                return "stream", r.status_code, json.dumps({"text": r.text, "retry": r.headers.get("retry-after")})
            events = []
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    events.append(line[6:])
                    if hang_up:
                        break
            return ("hangup" if hang_up else "stream"), 200, json.dumps(events)
    r = await client.post(f"{url}/chat/completions", json=body)
    return "json", r.status_code, json.dumps({"text": r.text, "retry": r.headers.get("retry-after")})


async def _burst(url: str, n: int) -> list[tuple[str, int, str]]:
    # bounded client: one connection per request (all n concurrent), every request with a timeout
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30.0)) as client:
        return await asyncio.wait_for(asyncio.gather(*(_one(client, url, i) for i in range(n))), timeout=90)


def _check_burst(url: str, n: int, limits: Limits) -> dict:
    t0 = time.monotonic()
    results = asyncio.run(_burst(url, n))
    took = time.monotonic() - t0
    assert len(results) == n
    answered = refused = 0
    for kind, status, payload in results:
        if kind == "bad":
            assert status == 400 and "not valid JSON" in json.loads(payload)["error"]["message"], payload
            continue
        if status == 503:
            refused += 1
            got = json.loads(payload)
            assert got["retry"] and "busy" in json.loads(got["text"])["error"]["message"]
            continue
        assert status == 200, (kind, status, payload)
        answered += 1
        if kind == "json":
            out = json.loads(json.loads(payload)["text"])
            assert out["object"] == "chat.completion" and 1 <= out["usage"]["completion_tokens"] <= 4
        elif kind == "stream":
            events = json.loads(payload)
            assert events[-1] == "[DONE]" and json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"
            assert any(json.loads(e)["choices"] and json.loads(e)["choices"][0]["finish_reason"]
                       for e in events[:-1])
    # everyone got an answer or a refusal; the server never ran or queued more than it may
    assert answered + refused == n - sum(1 for k, *_ in results if k == "bad")
    assert answered >= limits.max_concurrency
    t1 = time.monotonic()
    while (h := _health(url))["running"] or h["waiting"]:
        assert time.monotonic() - t1 < 10, f"work left after the burst: {h}"
        time.sleep(0.05)
    assert h["peak_running"] <= limits.max_concurrency and h["peak_waiting"] <= limits.max_queue, h
    # still serving, normally
    r = httpx.post(f"{url}/chat/completions", json={"messages": Q, "max_tokens": 2}, timeout=30)
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] == 2
    return {"answered": answered, "refused": refused, "seconds": took, "health": h}


def test_burst_of_200_concurrent_requests(cm) -> None:
    limits = Limits(max_concurrency=2, max_queue=8, queue_timeout=20)
    with start_server(create_app(cm, limits)) as s:
        stats = _check_burst(s.url, 200, limits)
    assert stats["seconds"] < 60, stats
    print(f"\n200 concurrent requests: {stats['answered']} answered, {stats['refused']} refused (503), "
          f"{stats['seconds']:.1f} s")


@pytest.mark.slow
def test_burst_of_1000_concurrent_requests(cm) -> None:
    limits = Limits(max_concurrency=2, max_queue=32, queue_timeout=20)
    with start_server(create_app(cm, limits)) as s:
        _check_burst(s.url, 1000, limits)


def test_full_queue_and_queue_timeout_refuse_with_503(cm) -> None:
    """One slot, one place in the queue: a long stream holds the slot; the next request waits and is
    refused after queue_timeout; the one after is refused at once; hanging up frees the slot."""
    limits = Limits(max_concurrency=1, max_queue=1, queue_timeout=1.5)
    with start_server(create_app(cm, limits)) as s, httpx.Client(timeout=30) as h:
        long = {"messages": Q, "max_tokens": 3000, "temperature": 1.0, "stream": True, "ignore_eos": True}
        with h.stream("POST", f"{s.url}/chat/completions", json=long) as r:
            assert r.status_code == 200
            lines = r.iter_lines()  # keep it: a dropped iterator closes the response
            next(lines)  # generating now

            async def two() -> list[tuple[int, float, httpx.Response]]:
                async with httpx.AsyncClient(timeout=30) as c:
                    async def one(delay: float):
                        await asyncio.sleep(delay)
                        t = time.monotonic()
                        resp = await c.post(f"{s.url}/chat/completions", json={"messages": Q, "max_tokens": 2})
                        return resp.status_code, time.monotonic() - t, resp
                    return await asyncio.gather(one(0), one(0.3))

            (s1, t1, r1), (s2, t2, r2) = asyncio.run(two())
            assert (s1, s2) == (503, 503)
            assert "within 1.5 s" in r1.json()["error"]["message"] and t1 >= 1.4  # waited, then refused
            assert "max_queue 1" in r2.json()["error"]["message"] and t2 < 1.0    # refused at once
            assert r1.headers["retry-after"] and r2.headers["retry-after"]
            assert _health(s.url)["running"] == 1
        t0 = time.monotonic()
        while _health(s.url)["running"]:
            assert time.monotonic() - t0 < 5, "hanging up did not free the slot"
            time.sleep(0.05)
        r = h.post(f"{s.url}/chat/completions", json={"messages": Q, "max_tokens": 2})
        assert r.status_code == 200
