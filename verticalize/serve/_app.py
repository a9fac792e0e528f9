"""The OpenAI-compatible HTTP server: ``/v1/chat/completions`` (JSON or server-sent events),
``/v1/models``, ``/health``; FastAPI + uvicorn (``pip install 'verticalize[serve]'``).

Load is bounded: at most ``max_concurrency`` generations run at once and at most ``max_queue``
requests wait for one (each at most ``queue_timeout`` seconds); any other request is refused at
once with 503 and ``Retry-After``, so a burst never hangs the server. A client that goes away
mid-stream stops its generation at the next token.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from verticalize.errors import MissingDependencyError
from verticalize.serve._model import ChatModel, PromptError
from verticalize.serve._protocol import (
    ChatRequest,
    chunk,
    completion,
    error_body,
    format_validation_error,
    model_card,
    new_id,
    now,
    usage,
)

__all__ = ["Limits", "ServerHandle", "bind", "create_app", "require_serve_deps", "run_server", "start_server"]

INSTALL = "pip install 'verticalize[serve]'"
_END = object()


def require_serve_deps() -> None:
    missing = []
    for mod in ("fastapi", "uvicorn"):
        try:
            __import__(mod)
        except ImportError:
            missing.append(mod)
    if missing:
        raise MissingDependencyError(f"verticalize serve needs {' and '.join(missing)}: {INSTALL}")


@dataclass(frozen=True)
class Limits:
    """How much work the server takes on; the rest is refused with 503 instead of piling up."""

    max_concurrency: int = 1      # generations running at once
    max_queue: int = 16           # requests waiting for a free slot
    queue_timeout: float = 30.0   # seconds a request may wait before a 503
    max_body_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        from verticalize.errors import RunError

        if self.max_concurrency < 1 or self.max_queue < 0 or self.queue_timeout <= 0 or self.max_body_bytes < 1:
            raise RunError(f"serve limits: max_concurrency >= 1, max_queue >= 0, queue_timeout > 0 (got "
                           f"{self.max_concurrency}, {self.max_queue}, {self.queue_timeout})")


class Busy(Exception):
    pass


class _Admission:
    """``max_concurrency`` slots, a FIFO of at most ``max_queue`` requests waiting (each at most
    ``queue_timeout`` seconds) for one, and the counts /health shows. Runs on the event loop only."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.free = limits.max_concurrency
        self.waiters: deque[asyncio.Future] = deque()
        self.refused = 0
        self.peak_running = 0
        self.peak_waiting = 0

    @property
    def running(self) -> int:
        return self.limits.max_concurrency - self.free

    @property
    def waiting(self) -> int:
        return len(self.waiters)

    async def acquire(self) -> None:
        if self.free and not self.waiters:
            self.free -= 1
        elif len(self.waiters) >= self.limits.max_queue:
            self.refused += 1
            raise Busy(f"server busy: {self.running} request(s) generating and {self.waiting} waiting "
                       f"(max_queue {self.limits.max_queue}); retry later")
        else:
            fut = asyncio.get_running_loop().create_future()
            self.waiters.append(fut)
            self.peak_waiting = max(self.peak_waiting, len(self.waiters))
            try:
                await asyncio.wait_for(asyncio.shield(fut), self.limits.queue_timeout)
            except (asyncio.TimeoutError, asyncio.CancelledError) as e:
                if fut.done() and not fut.cancelled():  # the slot came just as we gave up
                    if isinstance(e, asyncio.CancelledError):
                        self.release()  # the request is gone: hand the slot on
                        raise
                else:
                    fut.cancel()
                    if fut in self.waiters:
                        self.waiters.remove(fut)
                    if isinstance(e, asyncio.CancelledError):
                        raise
                    self.refused += 1
                    raise Busy(f"server busy: no free slot within {self.limits.queue_timeout:g} s; "
                               "retry later") from None
        self.peak_running = max(self.peak_running, self.running)

    def release(self) -> None:
        """A slot is free: hand it to the longest-waiting request, or keep it."""
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.free += 1


def create_app(chat: ChatModel, limits: Limits | None = None, *, api_key: str | None = None) -> Any:
    """A FastAPI app serving ``chat`` the OpenAI way (``/v1/chat/completions``, ``/v1/models``)."""
    require_serve_deps()
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.requests import ClientDisconnect
    from starlette.responses import StreamingResponse

    limits = limits or Limits()
    admission = _Admission(limits)
    created = now()
    app = FastAPI(title=f"verticalize: {chat.name}", version="1",
                  description="OpenAI-compatible chat completions for a verticalize run or export.")
    app.state.chat, app.state.admission = chat, admission

    def err(status: int, message: str, type_: str, param: str | None = None, headers: dict | None = None) -> Any:
        return JSONResponse(error_body(message, type_, param, str(status)), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        msg, param = format_validation_error(list(exc.errors()))
        return err(400, msg, "invalid_request_error", param)

    app.add_middleware(_Guard, api_key=api_key, max_body=limits.max_body_bytes)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        a = admission
        return {"status": "ok", "model": chat.name, "running": a.running, "waiting": a.waiting, "refused": a.refused,
                "peak_running": a.peak_running, "peak_waiting": a.peak_waiting,
                "max_concurrency": limits.max_concurrency, "max_queue": limits.max_queue}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card(chat.name, created)]}

    @app.get("/v1/models/{model_id:path}")
    async def one_model(model_id: str) -> Any:
        if model_id != chat.name:
            return err(404, f"model {model_id!r} not found; this server has {chat.name!r}", "invalid_request_error",
                       "model")
        return model_card(chat.name, created)

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatRequest) -> Any:
        if body.model and body.model != chat.name:
            return err(404, f"model {body.model!r} not found; this server has {chat.name!r}",
                       "invalid_request_error", "model")
        messages = [m.plain() for m in body.messages]
        try:
            ids = chat.encode(messages)
        except PromptError as e:
            return err(400, str(e), "invalid_request_error", "messages")
        try:
            await admission.acquire()
        except Busy as e:
            return err(503, str(e), "server_busy", headers={"Retry-After": "1"})
        loop = asyncio.get_running_loop()

        def done() -> None:  # from the generation thread, once it has ended
            try:
                loop.call_soon_threadsafe(admission.release)
            except RuntimeError:  # the loop is closed: the server is gone anyway
                pass

        try:
            gen = chat.start(input_ids=ids, max_tokens=body.limit(), temperature=body.temperature, top_p=body.top_p,
                             stop=body.stops(), ignore_eos=body.ignore_eos, on_done=done)
        except BaseException:
            admission.release()
            raise
        rid, ts = new_id(), now()
        if not body.stream:
            try:
                text = "".join([p async for p in _pieces(gen, loop)])
            except Exception as e:  # noqa: BLE001 -- the model failed: say so, keep serving
                return err(500, f"generation failed: {type(e).__name__}: {e}", "server_error")
            finally:
                gen.cancel()  # no-op when it finished; stops it when this request was cancelled
            return completion(rid, ts, chat.name, text, _finish(gen), gen.prompt_tokens, gen.completion_tokens)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return _EventStream(_events(gen, loop, rid, ts, chat.name, include_usage), on_close=gen.cancel)

    class _EventStream(StreamingResponse):
        """Server-sent events; whatever ends the response (done, client gone, error) stops the generation."""

        def __init__(self, content: AsyncIterator[str], on_close: Any) -> None:
            super().__init__(content, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            self._on_close = on_close

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            try:
                await super().__call__(scope, receive, send)
            except (OSError, ClientDisconnect):  # the client went away while we were writing
                pass
            finally:
                self._on_close()

    return app


class _Guard:
    """Plain ASGI middleware (streams pass through untouched): the API key, when the server has one, and
    the body size limit."""

    def __init__(self, app: Any, api_key: str | None, max_body: int) -> None:
        self.app, self.api_key, self.max_body = app, api_key, max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            problem = None
            if self.api_key is not None and scope.get("path", "").startswith("/v1/") and \
                    headers.get("authorization", "") != f"Bearer {self.api_key}":
                problem = (401, "missing or wrong API key (send 'Authorization: Bearer <key>')", "authentication_error")
            size = headers.get("content-length", "")
            if problem is None and size.isdigit() and int(size) > self.max_body:
                problem = (413, f"request body is {size} bytes; at most {self.max_body}", "invalid_request_error")
            if problem is not None:
                from fastapi.responses import JSONResponse

                status, msg, kind = problem
                await JSONResponse(error_body(msg, kind, None, str(status)), status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _finish(gen: Any) -> str:
    return "stop" if gen.finish_reason in (None, "cancelled") else gen.finish_reason


async def _pieces(gen: Any, loop: asyncio.AbstractEventLoop) -> AsyncIterator[str]:
    """The generation's text deltas, read in a helper thread and handed to the event loop."""
    queue: asyncio.Queue = asyncio.Queue()

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # loop closed
            gen.cancel()

    def pump() -> None:
        try:
            for piece in gen:
                put(piece)
            put(_END)
        except BaseException as e:  # noqa: BLE001 -- re-raised in the event loop
            put(e)

    threading.Thread(target=pump, daemon=True, name="verticalize-stream").start()
    try:
        while True:
            item = await queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        gen.cancel()


def _sse(obj: Any) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


async def _events(gen: Any, loop: asyncio.AbstractEventLoop, rid: str, ts: int, name: str,
                  include_usage: bool) -> AsyncIterator[str]:
    yield _sse(chunk(rid, ts, name, {"role": "assistant", "content": ""}))
    try:
        async for piece in _pieces(gen, loop):
            yield _sse(chunk(rid, ts, name, {"content": piece}))
    except Exception as e:  # noqa: BLE001 -- the status line is sent: report in the stream
        yield _sse(error_body(f"generation failed: {type(e).__name__}: {e}", "server_error"))
        yield "data: [DONE]\n\n"
        return
    yield _sse(chunk(rid, ts, name, {}, _finish(gen)))
    if include_usage:
        yield _sse(chunk(rid, ts, name, {}, use=usage(gen.prompt_tokens, gen.completion_tokens)))
    yield "data: [DONE]\n\n"


# ---- running it ---------------------------------------------------------------------------------------
def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket (port 0: a free one, read it back with ``sock.getsockname()[1]``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        from verticalize.errors import RunError

        raise RunError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _server(app: Any, log_level: str, graceful: float) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, timeout_graceful_shutdown=graceful, lifespan="off",
                            backlog=2048)
    return uvicorn.Server(config)


def run_server(app: Any, sock: socket.socket, *, log_level: str = "info") -> None:
    """Serve until Ctrl-C / SIGTERM (uvicorn's graceful shutdown)."""
    _server(app, log_level, 5.0).run(sockets=[sock])


class ServerHandle:
    """A server running in a background thread of this process: ``.url`` (ends with /v1), ``.stop()``;
    a context manager. For notebooks and tests."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self._sock = bind(host, port)
        self.host, self.port = host, self._sock.getsockname()[1]
        self._server = _server(app, log_level, 2.0)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="verticalize-serve")
        self._thread.start()
        import time

        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                from verticalize.errors import RunError

                raise RunError(f"the server on {host}:{self.port} did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> ServerHandle:
    """Start ``app`` in a background thread; returns once it accepts connections."""
    return ServerHandle(app, host, port, log_level)
