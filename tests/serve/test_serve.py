"""``verticalize serve``'s engine against the real ``openai`` client: a tiny finance run served on
127.0.0.1 (a free port, stopped at the end), answers equal to ``Run.generate``'s, streaming (SSE) equal
to non-streaming, stop strings, 400 with the reason for malformed requests, a client that hangs up
mid-stream, an API key, an export dir, and the missing-extra message."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import tiny_adapter
from verticalize.errors import MissingDependencyError, RunError
from verticalize.serve import Limits, create_app, load_chat_model, start_server

Q = "Revenue went from 100 to 120. What is the percent change?"
# the run's generation settings: 12 new tokens, never the same token twice (a random tiny model would
# otherwise answer "\n\n\n..." greedily) -- so an answer that honours them is recognisable
GENERATION = {"max_new_tokens": 12, "no_repeat_ngram_size": 1}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)  # a 2-layer model: one thread is ~10x faster than several on a shared CPU
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    a = tiny_adapter(tmp, None, max_steps=1).evaluate_with(generation=GENERATION)  # finance domain: a system prompt
    return a.train(output_dir=tmp / "run", quiet=True)


@pytest.fixture(scope="module")
def cm(run):
    return load_chat_model(run.output_dir)


@pytest.fixture(scope="module")
def server(cm):
    with start_server(create_app(cm, Limits(max_concurrency=2, max_queue=8, queue_timeout=20))) as s:
        yield s


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=60)


def _health(server) -> dict:
    return httpx.get(server.url.removesuffix("/v1") + "/health", timeout=10).json()


def test_loads_the_run_with_its_template_system_prompt_and_settings(run, cm) -> None:
    assert cm.source == "run" and cm.name == "run"
    assert cm.generation["max_new_tokens"] == 12 and cm.generation["no_repeat_ngram_size"] == 1
    assert cm.system and "financ" in cm.system.lower()  # the finance pack's system prompt, as in Run.generate
    prompt = cm.prompt([{"role": "user", "content": Q}])
    want = run.load()[1].apply_chat_template([{"role": "system", "content": cm.system}, {"role": "user", "content": Q}],
                                              tokenize=False, add_generation_prompt=True)
    assert prompt == want and prompt.endswith("<|im_start|>assistant\n")


def test_models_endpoint(client, cm) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == [cm.name]
    assert client.models.retrieve(cm.name).id == cm.name
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_completion_equals_run_generate(client, run, cm) -> None:
    r = client.chat.completions.create(model=cm.name, messages=[{"role": "user", "content": Q}])
    want = run.generate(Q)[0]  # the same template, system prompt and generation settings, greedy
    assert want.strip(), "the tiny run answered nothing: the comparison would be vacuous"
    assert r.choices[0].message.content == want
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 12  # eval.generation.max_new_tokens of the run
    assert r.usage.prompt_tokens == cm.encode([{"role": "user", "content": Q}]).shape[1]
    assert r.usage.total_tokens == r.usage.prompt_tokens + 12
    assert r.id.startswith("chatcmpl-") and r.model == cm.name


def test_streaming_equals_non_streaming(client, cm) -> None:
    msgs = [{"role": "user", "content": Q}]
    whole = client.chat.completions.create(model=cm.name, messages=msgs).choices[0].message.content
    chunks = list(client.chat.completions.create(model=cm.name, messages=msgs, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 3, deltas  # really streamed, not one blob
    assert "".join(deltas) == whole
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12
    assert len({c.id for c in chunks}) == 1


def test_request_settings_override_the_run(client, cm) -> None:
    msgs = [{"role": "user", "content": Q}]
    r = client.chat.completions.create(model=cm.name, messages=msgs, max_tokens=3)
    assert r.usage.completion_tokens == 3 and r.choices[0].finish_reason == "length"
    whole = client.chat.completions.create(model=cm.name, messages=msgs).choices[0].message.content
    assert whole.startswith(r.choices[0].message.content)
    # a system message of the client's replaces the run's
    other = client.chat.completions.create(model=cm.name, messages=[{"role": "system", "content": "Be brief."}, *msgs])
    assert other.usage.prompt_tokens != r.usage.prompt_tokens
    # sampling: different settings, still an answer
    s = client.chat.completions.create(model=cm.name, messages=msgs, temperature=1.0, top_p=0.9, max_tokens=5)
    assert s.usage.completion_tokens >= 1


def test_stop_strings_cut_the_answer(client, cm) -> None:
    msgs = [{"role": "user", "content": Q}]
    whole = client.chat.completions.create(model=cm.name, messages=msgs).choices[0].message.content
    k = len(whole) // 2
    stop = whole[k: k + 2]
    want = whole[: whole.find(stop)]
    r = client.chat.completions.create(model=cm.name, messages=msgs, stop=[stop, "never appears"])
    assert r.choices[0].message.content == want and r.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(model=cm.name, messages=msgs, stop=stop, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == want
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


BAD = [  # (body, status, words the error message must contain)
    (b"{not json", 400, ["not valid JSON"]),
    ({"model": "run"}, 400, ["messages", "required"]),
    ({"messages": []}, 400, ["messages", "at least 1"]),
    ({"messages": [{"role": "robot", "content": "hi"}]}, 400, ["messages.0.role"]),
    ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, ["n"]),
    ({"messages": [{"role": "user", "content": "hi"}], "temperature": -1}, 400, ["temperature"]),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, ["max_tokens"]),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}, 400,
     ["last message", "user"]),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, 400,
     ["messages.0.content"]),
    ({"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o"}, 404, ["gpt-4o", "run"]),
]


@pytest.mark.parametrize("body,status,words", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_malformed_request_gets_the_reason(server, body, status, words) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = httpx.post(f"{server.url}/chat/completions", content=content, headers={"content-type": "application/json"},
                   timeout=30)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert all(w in err["message"] for w in words), err
    assert err["type"] == "invalid_request_error"


def test_openai_client_sees_bad_request(client, cm) -> None:
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.chat.completions.create(model=cm.name, messages=[{"role": "user", "content": "hi"}], temperature=5)


def test_prompt_longer_than_the_context_is_refused(client, cm) -> None:
    long = "profit " * (cm.context_length + 10)
    with pytest.raises(openai.BadRequestError, match="context"):
        client.chat.completions.create(model=cm.name, messages=[{"role": "user", "content": long}])


def test_client_disconnect_mid_stream_stops_the_generation(server, client, cm) -> None:
    body = {"model": cm.name, "messages": [{"role": "user", "content": Q}], "stream": True, "max_tokens": 3000,
            "temperature": 1.0, "ignore_eos": True}
    got = 0
    with httpx.Client(timeout=30) as h, h.stream("POST", f"{server.url}/chat/completions", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: {"):
                got += 1
            if got >= 3:
                break  # hang up with ~2990 tokens still to go
    t0 = time.monotonic()
    while _health(server)["running"] and time.monotonic() - t0 < 10:
        time.sleep(0.05)
    h = _health(server)
    assert h["running"] == 0 and h["waiting"] == 0, h  # the generation stopped and freed its slot
    assert time.monotonic() - t0 < 5
    # and the server carries on
    r = client.chat.completions.create(model=cm.name, messages=[{"role": "user", "content": Q}], max_tokens=2)
    assert r.usage.completion_tokens == 2


def test_api_key(cm) -> None:
    with start_server(create_app(cm, api_key="sekret")) as s:
        bad = openai.OpenAI(base_url=s.url, api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.models.list()
        good = openai.OpenAI(base_url=s.url, api_key="sekret", max_retries=0)
        r = good.chat.completions.create(model=cm.name, messages=[{"role": "user", "content": Q}], max_tokens=2)
        assert r.usage.completion_tokens == 2
        assert httpx.get(s.url.removesuffix("/v1") + "/health").status_code == 200  # probes need no key


def test_export_dir_serves_the_same_answers(run, cm, tmp_path: Path) -> None:
    out = run.export(tmp_path / "export")
    info = json.loads((out / "verticalize_export.json").read_text())
    assert info["generation"]["max_new_tokens"] == 12 and info["system"] == cm.system
    ce = load_chat_model(out)
    assert ce.source == "export" and ce.name == "export"
    assert ce.system == cm.system and ce.generation == cm.generation
    msgs = [{"role": "user", "content": Q}]
    assert ce.prompt(msgs) == cm.prompt(msgs)
    assert ce.chat(msgs) == cm.chat(msgs)  # merged weights, same template and settings: same greedy answer


def test_not_a_run_or_export(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="neither a verticalize run"):
        load_chat_model(tmp_path)
    with pytest.raises(RunError, match="does not exist"):
        load_chat_model(tmp_path / "nope")
    (tmp_path / "r.incomplete").mkdir()
    with pytest.raises(RunError, match="not a finished verticalize run"):
        load_chat_model(tmp_path / "r.incomplete")


def test_missing_fastapi_names_the_extra(cm, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "fastapi", None)  # import fastapi -> ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install 'verticalize\[serve\]'"):
        create_app(cm)
