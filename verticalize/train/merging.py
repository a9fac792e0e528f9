"""Merge the trained changes of several runs of one base into one model, without retraining.

* LoRA adapters: PEFT's ``add_weighted_adapter`` -- each adapter is loaded onto one base, combined into a
  new adapter and saved as an ordinary PEFT adapter dir. ``cat`` is the exact weighted sum of the changes
  (its rank is the sum of the ranks); ``svd``, ``ties_svd``, ``dare_ties_svd``, ``dare_linear_svd`` and
  ``magnitude_prune_svd`` combine the full changes, then cut them back to the largest rank by SVD;
  ``linear``, ``ties``, ``dare_ties``, ``dare_linear`` and ``magnitude_prune`` combine the A and B factors
  separately (fast, an approximation PEFT documents; the adapters need equal ranks).
* Full fine-tunes: the same TIES / DARE / magnitude / linear rules on the full changes
  (``W_i - W_base``, PEFT's ``merge_utils``), added to the base.

DARE drops entries at random: ``seed`` makes a merge repeatable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from verticalize.errors import RunError

__all__ = ["DENSITY_METHODS", "MERGE_METHODS", "check_merge_args", "merge_adapters", "merge_full"]

#: PEFT's combination types for LoRA adapters (add_weighted_adapter)
MERGE_METHODS = ("ties", "dare_ties", "dare_linear", "linear", "cat", "svd", "ties_svd", "dare_ties_svd",
                 "dare_linear_svd", "magnitude_prune", "magnitude_prune_svd")
#: methods that prune: they need a density (the share of each change that is kept)
DENSITY_METHODS = ("ties", "dare_ties", "dare_linear", "ties_svd", "dare_ties_svd", "dare_linear_svd",
                   "magnitude_prune", "magnitude_prune_svd")
#: methods that combine the A and B factors separately: the adapters need the same rank
_SAME_RANK = ("linear", "ties", "dare_ties", "dare_linear", "magnitude_prune")
#: methods for full fine-tunes (on the full changes)
_FULL = {"linear": "task_arithmetic", "ties": "ties", "dare_ties": "dare_ties", "dare_linear": "dare_linear",
         "magnitude_prune": "magnitude_prune"}


def check_merge_args(method: str, n: int, weights: Sequence[float] | None, density: float | None,
                     full: bool = False) -> tuple[list[float], float | None]:
    """(weights, density) checked: a RunError naming what is wrong and what is allowed."""
    from verticalize.errors import closest

    allowed = tuple(_FULL) if full else MERGE_METHODS
    if method not in allowed:
        near = closest(method, allowed)
        why = " (full fine-tunes merge on the full changes)" if full and method in MERGE_METHODS else ""
        raise RunError(f"unknown merge method {method!r}{why}" + (f"; did you mean {near!r}?" if near else "")
                       + f" Allowed: {', '.join(allowed)}")
    if n < 2:
        raise RunError(f"a merge needs at least two runs, got {n} (to weaken one run's change, use "
                       "`verticalize curve` and `verticalize export --scale`)")
    w = [1.0] * n if weights is None else [float(x) for x in weights]
    if len(w) != n:
        raise RunError(f"--weights has {len(w)} value(s) for {n} runs: give one weight per run, in order")
    if method in DENSITY_METHODS:
        density = 0.5 if density is None else float(density)
        if not 0.0 < density <= 1.0:
            raise RunError(f"--density must be in (0, 1] (the share of each change kept), got {density:g}")
    elif density is not None:
        raise RunError(f"--density applies only to {', '.join(DENSITY_METHODS)}; {method!r} keeps every entry")
    return w, density


def merge_adapters(adapters: Sequence[Path], weights: Sequence[float], *, base: Callable[[], Any], method: str,
                   density: float | None, seed: int, dest: Path) -> dict[str, Any]:
    """Load each adapter dir onto ``base()``, combine them into an adapter named ``default`` and save it to
    ``dest`` (a PEFT adapter dir). Returns what was done (rank, method, density)."""
    import torch
    from peft import PeftModel

    from verticalize.train.weights import save_weights

    names = [f"run{i}" for i in range(len(adapters))]
    model = PeftModel.from_pretrained(base(), str(adapters[0]), adapter_name=names[0])
    for name, path in zip(names[1:], adapters[1:]):
        model.load_adapter(str(path), adapter_name=name)
    cfgs = [model.peft_config[n] for n in names]
    kinds = {str(c.peft_type).split(".")[-1] for c in cfgs}
    if kinds != {"LORA"}:
        raise RunError(f"only LoRA adapters can be merged, got {', '.join(sorted(kinds))}")
    if any(getattr(c, "use_dora", False) for c in cfgs):
        raise RunError("DoRA adapters cannot be merged by PEFT's add_weighted_adapter; merge plain LoRA runs")
    ranks = [max([c.r, *(c.rank_pattern or {}).values()]) for c in cfgs]
    if method in _SAME_RANK and len(set(ranks)) > 1:
        raise RunError(f"{method!r} combines the LoRA factors and needs equal ranks, got r={ranks}; use cat, svd or "
                       "a *_svd method (ties_svd, dare_ties_svd, dare_linear_svd, magnitude_prune_svd)")
    torch.manual_seed(seed)
    kw: dict[str, Any] = {"density": density} if density is not None else {}
    try:
        model.add_weighted_adapter(names, list(weights), "default", combination_type=method, **kw)
    except (ValueError, TypeError, RuntimeError) as e:
        raise RunError(f"PEFT could not merge the adapters with {method!r}: {' '.join(str(e).split())}") from None
    model.set_adapter("default")
    for n in names:
        model.delete_adapter(n)
    model.eval()
    save_weights(model, Path(dest), main=True)
    return {"method": method, "density": density, "weights": list(weights), "rank": model.peft_config["default"].r,
            "seed": seed}


def merge_full(models: Sequence[Path], weights: Sequence[float], *, base: Callable[[], Any], method: str,
               density: float | None, seed: int, dest: Path, load: Callable[[Path], Any]) -> dict[str, Any]:
    """Merge full fine-tunes: ``W_base + combine(W_i - W_base)`` per weight, saved to ``dest`` as a model dir
    (``load(path)`` loads one trained model)."""
    import torch
    from peft.utils import merge_utils

    from verticalize.train.weights import save_weights

    fn = getattr(merge_utils, _FULL[method])
    model = base()
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    deltas: dict[str, list[Any]] = {k: [] for k, v in start.items() if v.is_floating_point()}
    for path in models:
        trained = load(path).state_dict()
        for k, ds in deltas.items():
            if k not in trained or trained[k].shape != start[k].shape:
                raise RunError(f"{path}: weight {k} does not match the base's, so the runs cannot be merged")
            ds.append(trained[k].detach().to(start[k].dtype) - start[k])
        del trained
    torch.manual_seed(seed)
    w = torch.tensor(list(weights), dtype=torch.float32)
    with torch.no_grad():
        params = model.state_dict()
        for k, ds in deltas.items():
            args: list[Any] = [ds, w.to(ds[0].dtype)]
            if method != "linear":
                args.append(density)
            if method in ("ties", "dare_ties"):
                args.append("total")
            params[k].copy_(start[k] + fn(*args).to(start[k].dtype))
    model.eval()
    save_weights(model, Path(dest), main=True)
    return {"method": method, "density": density, "weights": list(weights), "seed": seed}
