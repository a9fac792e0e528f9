"""Replay mixing: put general data into the domain mix against catastrophic forgetting.

A mix at ratio ``r`` by examples holds ``round(r * n / (1 - r))`` general examples next to ``n``
domain ones; by tokens, general examples are added until their share of tokens reaches ``r``.
Seeded; the trainer's sampler reshuffles each epoch.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ["replay_mix"]


def _draw(pool: list[dict[str, Any]], k: int, rng: random.Random) -> list[dict[str, Any]]:
    """k examples from pool: without replacement while the pool lasts, whole passes after that."""
    out: list[dict[str, Any]] = []
    while k > 0 and pool:
        take = min(k, len(pool))
        out.extend(rng.sample(pool, take))
        k -= take
    return out


def replay_mix(domain: list[dict[str, Any]], general: list[dict[str, Any]], ratio: float, *, by: str = "examples",
               seed: int = 42, length: Callable[[dict[str, Any]], int] | None = None
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rng = random.Random(seed)
    domain = [{**ex, "_origin": "domain"} for ex in domain]
    general = [{**ex, "_origin": "general"} for ex in general]
    if ratio <= 0 or not general:
        mixed = list(domain)
        picked: list[dict[str, Any]] = []
    elif by == "examples":
        k = round(ratio * len(domain) / (1 - ratio))
        picked = _draw(general, k, rng)
    else:
        if length is None:
            raise ValueError("replay by tokens needs a length function")
        dom_tokens = sum(length(ex) for ex in domain)
        target = ratio * dom_tokens / (1 - ratio)
        order = _draw(general, len(general), rng)
        picked, got, i = [], 0, 0
        while order and got < target:
            ex = order[i % len(order)]
            n = length(ex)
            # stop at the example that brings the share closest to the target
            if got + n - target > target - got:
                break
            picked.append(ex)
            got += n
            i += 1
    mixed = domain + picked
    rng.shuffle(mixed)
    report: dict[str, Any] = {"step": "replay", "by": by, "ratio_target": ratio,
                              "domain_examples": len(domain), "general_examples": len(picked)}
    total = len(mixed)
    report["ratio_examples"] = round(len(picked) / total, 4) if total else 0.0
    if length is not None:
        g = sum(length(ex) for ex in picked)
        t = g + sum(length(ex) for ex in domain)
        report["ratio_tokens"] = round(g / t, 4) if t else 0.0
    return mixed, report
