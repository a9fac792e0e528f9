"""Map a function over a long list in forked worker processes, for the CPU-bound per-example data
steps (PII redaction, quality and dedup keys, tokenization).

The list and the function reach the workers through ``fork`` (copy-on-write memory), never
pickled; only each slice's results come back. Short lists, platforms without ``fork`` and
multi-process training runs (every rank is a process already) run in this process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["fork_map", "default_workers"]

T = TypeVar("T")
_JOB: Any = None


def default_workers(n: int, min_items: int = 20_000) -> int:
    if n < min_items or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return 1
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(8, os.cpu_count() or 1))


def fork_map(fn: Callable[[Sequence[Any], int, int], list[T]], items: Sequence[Any], workers: int | None = None,
             min_items: int = 20_000) -> list[list[T]]:
    """``[fn(items, lo, hi) for each slice]`` in slice order; ``fn`` handles one slice [lo, hi)."""
    n = len(items)
    workers = default_workers(n, min_items) if workers is None else max(1, min(workers, n or 1))
    if workers == 1:
        return [fn(items, 0, n)]
    global _JOB
    bounds = [(n * i // workers, n * (i + 1) // workers) for i in range(workers)]
    _JOB = (fn, items)
    old = os.environ.get("TOKENIZERS_PARALLELISM")
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # one thread per worker, and no fork warning from tokenizers
    try:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return pool.map(_run, bounds)
    finally:
        _JOB = None
        if old is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = old


def _run(bounds: tuple[int, int]) -> Any:
    fn, items = _JOB
    return fn(items, *bounds)
