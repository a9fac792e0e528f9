"""``verticalize chat RUN|EXPORT`` (a streaming terminal chat) and ``verticalize serve RUN|EXPORT`` (an
OpenAI-compatible server). ``register(cli)`` adds both to the ``verticalize`` group.

Importing this module imports only click: the model, torch and fastapi load when a command runs.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from verticalize.cli._common import friendly

__all__ = ["COMMANDS", "chat", "register", "serve"]

TARGET_HELP = "a run dir (verticalize train) or an export dir (verticalize export)"


def _system_option(fn: Any) -> Any:
    fn = click.option("--no-system", is_flag=True, help="Add no system prompt.")(fn)
    return click.option("--system", metavar="TEXT", default=None,
                        help="System prompt (default: the run's domain pack's, as in evaluation).")(fn)


def _system(system: str | None, no_system: bool) -> str | None:
    if no_system:
        return ""
    return system


@click.command()
@click.argument("target", metavar="RUN|EXPORT", type=click.Path(file_okay=False))
@_system_option
@click.option("--max-tokens", type=click.IntRange(min=1), default=None,
              help="Longest answer in tokens (default: the run's eval.generation.max_new_tokens).")
@click.option("--temperature", type=click.FloatRange(min=0.0), default=None,
              help="0 decodes greedily (default: the run's eval.generation.temperature).")
@click.option("--top-p", type=click.FloatRange(min=0.0, max=1.0, min_open=True), default=None)
@click.option("--message", "-m", "messages", multiple=True, metavar="TEXT",
              help="Ask this (repeatable: one conversation), print the answers and exit -- no prompt.")
@friendly
def chat(target: str, system: str | None, no_system: bool, max_tokens: int | None, temperature: float | None,
         top_p: float | None, messages: tuple[str, ...]) -> None:
    """Chat with a trained model in the terminal; answers stream as they are generated.

    Uses the run's chat template, system prompt and generation settings. Type /reset to start over,
    /system TEXT to change the system prompt, /exit (or Ctrl-D) to quit; Ctrl-C stops an answer.
    """
    from verticalize.serve import PromptError, load_chat_model

    cm = load_chat_model(target, system=_system(system, no_system))
    opts = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p}
    history: list[dict[str, str]] = []
    if messages:
        for text in messages:
            history.append({"role": "user", "content": text})
            history.append({"role": "assistant", "content": _answer(cm, history, opts)})
        return
    g = cm.settings(**opts)
    how = "greedy" if not g.get("do_sample") else f"temperature {g['temperature']:g}, top_p {g['top_p']:g}"
    click.echo(f"chatting with {cm.name} ({cm.source} {cm.path}): up to {g['max_new_tokens']} tokens, {how}"
               f"{', system prompt ' + repr(_short(cm.system)) if cm.system else ''}.\n"
               "/reset starts over, /system TEXT sets the system prompt, /exit or Ctrl-D quits, Ctrl-C stops an "
               "answer.", err=True)
    tty = sys.stdin.isatty()
    if tty:
        try:
            import readline  # noqa: F401 -- line editing and history for input()
        except ImportError:
            pass
    while True:
        try:
            line = input("you> " if tty else "")
        except EOFError:
            if tty:
                click.echo("", err=True)
            return
        except KeyboardInterrupt:
            click.echo("", err=True)
            return
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit"):
            return
        if text == "/reset":
            history.clear()
            click.echo("(conversation cleared)", err=True)
            continue
        if text.startswith("/system"):
            cm.system = text[len("/system"):].strip() or None
            history = [m for m in history if m["role"] != "system"]
            click.echo(f"(system prompt {'set' if cm.system else 'removed'}; conversation kept)", err=True)
            continue
        if text in ("/help", "/?"):
            click.echo("/reset  /system TEXT  /exit", err=True)
            continue
        history.append({"role": "user", "content": line})
        try:
            history.append({"role": "assistant", "content": _answer(cm, history, opts,
                                                                    label="model> " if tty else "")})
        except PromptError as e:  # e.g. the conversation outgrew the context: say so, keep chatting
            history.pop()
            click.echo(f"error: {e} (/reset starts over)", err=True)


def _short(text: str | None, n: int = 60) -> str:
    t = " ".join((text or "").split())
    return t if len(t) <= n else t[: n - 1] + "…"


def _answer(cm: Any, history: list[dict[str, str]], opts: dict[str, Any], label: str = "") -> str:
    """Stream one answer to stdout; Ctrl-C stops it (what came so far is kept)."""
    gen = cm.start(history, **opts)
    parts: list[str] = []
    if label:
        click.echo(label, nl=False)
    try:
        for delta in gen:
            parts.append(delta)
            click.echo(delta, nl=False)
    except KeyboardInterrupt:
        gen.cancel()
        gen.wait(30)
        click.echo("\n(stopped)", err=True)
        return "".join(parts)
    click.echo("")
    if gen.finish_reason == "length":
        click.echo(f"(cut at {gen.completion_tokens} tokens: --max-tokens raises the limit)", err=True)
    return "".join(parts)


@click.command()
@click.argument("target", metavar="RUN|EXPORT", type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface -- set --api-key then).")
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="0 picks a free port (printed).")
@click.option("--model-name", default=None, help="The model id clients send (default: the dir's name).")
@_system_option
@click.option("--max-concurrency", type=click.IntRange(min=1), default=1, show_default=True,
              help="Generations running at once.")
@click.option("--max-queue", type=click.IntRange(min=0), default=16, show_default=True,
              help="Requests waiting for a slot; more are refused at once with 503.")
@click.option("--queue-timeout", type=click.FloatRange(min=0.0, min_open=True), default=30.0, show_default=True,
              help="Seconds a request may wait for a slot before a 503.")
@click.option("--api-key", envvar="VERTICALIZE_API_KEY", default=None, metavar="KEY",
              help="Require 'Authorization: Bearer KEY' (env VERTICALIZE_API_KEY).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True)
@friendly
def serve(target: str, host: str, port: int, model_name: str | None, system: str | None, no_system: bool,
          max_concurrency: int, max_queue: int, queue_timeout: float, api_key: str | None, log_level: str) -> None:
    """Serve a trained model over an OpenAI-compatible API: POST /v1/chat/completions (streaming or
    not), GET /v1/models. Needs the serve extra: pip install 'verticalize[serve]'.

    Point any OpenAI client at http://HOST:PORT/v1 (e.g. OpenAI(base_url=..., api_key="none")).
    """
    from verticalize.serve import Limits, bind, create_app, load_chat_model, require_serve_deps, run_server

    require_serve_deps()  # before the model loads: fail in a second, not after a minute
    limits = Limits(max_concurrency=max_concurrency, max_queue=max_queue, queue_timeout=queue_timeout)
    sock = bind(host, port)
    try:
        cm = load_chat_model(target, system=_system(system, no_system), name=model_name)
        app = create_app(cm, limits, api_key=api_key)
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{sock.getsockname()[1]}/v1"
        click.echo(f"serving {cm.name!r} ({cm.source} {cm.path}) at {url}: POST /chat/completions, GET /models; "
                   f"{max_concurrency} at once, {max_queue} queued. Ctrl-C stops.")
        sys.stdout.flush()
        try:
            run_server(app, sock, log_level=log_level)
        except KeyboardInterrupt:  # uvicorn shut down gracefully on Ctrl-C, then re-raised it
            pass
        click.echo("server stopped", err=True)
    finally:
        sock.close()


COMMANDS = [chat, serve]


def register(cli: click.Group) -> None:
    """Add ``chat`` and ``serve`` to ``cli``."""
    for cmd in COMMANDS:
        cli.add_command(cmd)
