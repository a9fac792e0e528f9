"""One running generation: ``model.generate`` in its own thread, text handed over by transformers'
``TextIteratorStreamer``, stop strings cut out, and a cancel switch checked at every decoding step.

Imported only when a generation starts (it imports torch and transformers at the top).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

__all__ = ["Generation"]


class _Streamer(TextIteratorStreamer):
    """TextIteratorStreamer that also counts the new tokens and remembers the last one."""

    def __init__(self, tokenizer: Any) -> None:
        super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
        self.n_tokens = 0
        self.last_token: int | None = None

    def put(self, value: Any) -> None:
        if not (self.skip_prompt and self.next_tokens_are_prompt):
            flat = value.reshape(-1)
            self.n_tokens += int(flat.numel())
            if flat.numel():
                self.last_token = int(flat[-1])
        super().put(value)


class _Cancelled(StoppingCriteria):
    """Stops generation at the next step once ``event`` is set (client gone, stop string seen, Ctrl-C)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many characters at the end of ``text`` could still be the start of a stop string."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best


class Generation:
    """Text deltas of one answer, produced while the model generates.

    Iterate it (once) for the deltas; afterwards ``finish_reason`` ("stop" | "length" | "cancelled"),
    ``prompt_tokens`` and ``completion_tokens`` are set, and ``error`` holds an exception that
    ``generate`` raised (iteration re-raises it). ``cancel()`` stops the model at its next step, from
    any thread; ``on_done`` is called exactly once, from the generation thread, when it has ended.
    """

    def __init__(self, model: Any, tokenizer: Any, input_ids: Any, gen_kwargs: dict[str, Any], *,
                 stop: Sequence[str] = (), eos_ids: Sequence[int] = (), on_done: Callable[[], None] | None = None):
        self.prompt_tokens = int(input_ids.shape[1])
        self.completion_tokens = 0
        self.finish_reason: str | None = None
        self.error: BaseException | None = None
        self._max_new = int(gen_kwargs.get("max_new_tokens") or 0)
        self._stops = [s for s in stop if s]
        self._eos = set(eos_ids)
        self._cancel = threading.Event()
        self._stopped_by_string = False
        self._done = threading.Event()
        self._on_done = on_done
        self._streamer = _Streamer(tokenizer)
        device = next(model.parameters()).device
        ids = input_ids.to(device)
        kwargs = dict(gen_kwargs, input_ids=ids, attention_mask=torch.ones_like(ids), streamer=self._streamer,
                      stopping_criteria=StoppingCriteriaList([_Cancelled(self._cancel)]))
        self._thread = threading.Thread(target=self._run, args=(model, kwargs), daemon=True,
                                        name="verticalize-generate")
        self._thread.start()

    def _run(self, model: Any, kwargs: dict[str, Any]) -> None:
        try:
            with torch.inference_mode():
                model.generate(**kwargs)
        except BaseException as e:  # noqa: BLE001 -- handed to the reader, who re-raises it
            self.error = e
            self._streamer.end()  # wake the reader (generate did not)
        finally:
            self.completion_tokens = self._streamer.n_tokens
            if self._on_done is not None:
                try:
                    self._on_done()
                except Exception:  # noqa: BLE001 -- e.g. the server's event loop is already closed
                    pass
            self._done.set()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the generation thread to end; False on timeout."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __iter__(self) -> Iterator[str]:
        text, sent = "", 0
        try:
            for piece in self._streamer:
                if not piece:
                    continue
                text += piece
                if self._stops:
                    start = max(0, sent - max(len(s) for s in self._stops) + 1)
                    hits = [i for i in (text.find(s, start) for s in self._stops) if i >= 0]
                    if hits:
                        cut = min(hits)
                        if cut > sent:
                            yield text[sent:cut]
                        sent = len(text)
                        self._stopped_by_string = True
                        self._cancel.set()
                        break
                    safe = len(text) - _held_back(text, self._stops)
                else:
                    safe = len(text)
                if safe > sent:
                    yield text[sent:safe]
                    sent = safe
            else:
                if len(text) > sent:
                    yield text[sent:]
        finally:
            if not self._done.is_set():
                self._cancel.set()  # the reader went away (or broke off): stop the model
            self._thread.join()
            self.completion_tokens = self._streamer.n_tokens
            self.finish_reason = self._finish()
        if self.error is not None:
            raise self.error

    def text(self) -> str:
        """The whole answer (consumes the generation)."""
        return "".join(self)

    def _finish(self) -> str:
        if self._stopped_by_string:
            return "stop"
        if self._streamer.last_token is not None and self._streamer.last_token in self._eos:
            return "stop"
        if self._max_new and self._streamer.n_tokens >= self._max_new:
            return "length"
        return "cancelled" if self._cancel.is_set() else "stop"
