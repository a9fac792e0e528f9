"""Replay mixing: put general data into the domain mix against catastrophic forgetting.

A mix at ratio ``r`` by examples holds ``round(r * n / (1 - r))`` general examples next to ``n``
domain ones; by tokens, general examples are added until their share of tokens reaches ``r``.
Seeded; the trainer's sampler reshuffles each epoch.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

__all__ = ["replay_mix", "mix_sources", "fill_tokens", "RatioMixer"]


def _draw(pool: list[dict[str, Any]], k: int, rng: random.Random) -> list[dict[str, Any]]:
    """k examples from pool: without replacement while the pool lasts, whole passes after that."""
    out: list[dict[str, Any]] = []
    while k > 0 and pool:
        take = min(k, len(pool))
        out.extend(rng.sample(pool, take))
        k -= take
    return out


def _cached(length: Callable[[dict[str, Any]], int]) -> Callable[[dict[str, Any]], int]:
    """``length`` computed once per example object (by tokens, replay repeats examples and the report
    counts them again; tokenizing a long document twice is the cost that matters)."""
    seen: dict[int, tuple[dict[str, Any], int]] = {}

    def count(ex: dict[str, Any]) -> int:
        hit = seen.get(id(ex))
        if hit is None or hit[0] is not ex:
            hit = seen[id(ex)] = (ex, length(ex))
        return hit[1]

    return count


def fill_tokens(order: list[Any], length: Callable[[Any], int], target: float) -> list[Any]:
    """Items of ``order`` in turn (cycling through it again when it runs out) until their tokens
    reach ``target``: it stops before the item that would leave the total further from the target
    than it is (so the share lands as close to the target as whole examples allow)."""
    picked: list[Any] = []
    got, i = 0, 0
    while order and got < target and not (i == len(order) and got == 0):  # a pass of empty items: no more
        item = order[i % len(order)]
        n = length(item)
        if got + n - target > target - got:
            break
        picked.append(item)
        got += n
        i += 1
    return picked


def replay_mix(domain: list[dict[str, Any]], general: list[dict[str, Any]], ratio: float, *, by: str = "examples",
               seed: int = 42, length: Callable[[dict[str, Any]], int] | None = None
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rng = random.Random(seed)
    if length is not None:
        length = _cached(length)
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
        picked = fill_tokens(_draw(general, len(general), rng), length, target)
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


class RatioMixer:
    """The built-in Mixer (see verticalize.strategies.Mixer): ``ratio`` of the mix is replay data,
    counted by examples or by tokens (:func:`replay_mix`)."""

    def __init__(self, ratio: float = 0.2, by: str = "examples"):
        self.ratio = ratio
        self.by = by

    def mix(self, domain: list[dict[str, Any]], replay: list[dict[str, Any]], *, seed: int,
            length: Callable[[dict[str, Any]], int] | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return replay_mix(domain, replay, self.ratio, by=self.by, seed=seed, length=length)


def mix_sources(groups: list[list[dict[str, Any]]], weights: list[float], strategy: str = "concat", seed: int = 42
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Combine several domain datasets.

    - ``concat``: every dataset in full, each scaled by its weight (0.5 keeps a seeded half,
      2 repeats it twice).
    - ``interleave_first``: draw the next example from dataset i with probability w_i / sum(w),
      stopping when any dataset is exhausted (``datasets.interleave_datasets``'
      ``first_exhausted``: the smaller dataset is not repeated).
    - ``interleave_all``: the same, restarting exhausted datasets until every one has been seen in
      full (``all_exhausted``: oversamples the smaller ones).

    >>> a, b = [{"x": i} for i in range(4)], [{"y": i} for i in range(2)]
    >>> len(mix_sources([a, b], [1, 1], "concat")[0]), len(mix_sources([a, b], [1, 0.5], "concat")[0])
    (6, 5)
    """
    rng = random.Random(seed)
    sizes = [len(g) for g in groups]
    if len(groups) == 1 and weights[0] == 1.0:
        return list(groups[0]), {"step": "mix", "strategy": strategy, "in": sizes, "out": sizes[0]}
    if strategy == "concat":
        out: list[dict[str, Any]] = []
        for g, w in zip(groups, weights):
            whole, frac = int(w), w - int(w)
            out += list(g) * whole + rng.sample(g, round(frac * len(g)))
    elif strategy in ("interleave_first", "interleave_all"):
        total = sum(weights)
        probs = [w / total for w in weights]
        orders = [rng.sample(g, len(g)) for g in groups]
        pos = [0] * len(groups)
        seen_all = [False] * len(groups)
        out = []
        while True:
            i = rng.choices(range(len(groups)), probs)[0]
            if pos[i] == len(orders[i]):
                seen_all[i] = True
                if strategy == "interleave_first" or all(seen_all):
                    break
                pos[i] = 0
            out.append(orders[i][pos[i]])
            pos[i] += 1
            if pos[i] == len(orders[i]) and strategy == "interleave_all":
                seen_all[i] = True
                if all(seen_all):
                    break
    else:
        raise ValueError(f"unknown mix strategy {strategy!r}")
    return out, {"step": "mix", "strategy": strategy, "weights": weights, "in": sizes, "out": len(out)}
