"""``validate()`` (and ``verticalize validate``): every problem of a recipe, found without loading a model or torch."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from verticalize.errors import RecipeError, VerticalizeError

if TYPE_CHECKING:
    from verticalize.recipe import Overlay, Recipe

__all__ = ["validate"]


def validate(name: str | Path, overrides: list[str] | None = None, *, trust_code: bool = False,
             data: bool = False, trust_paths: bool = False) -> list[str]:
    """Every problem of a recipe (a path or a shipped recipe name), found without loading a model or
    torch, each with the file:line (or ``--set``) that set it: keys and types, names (base model,
    domain, suites, replay source), data files, strategy objects (importable, args fit, Protocol
    met), and a ``<stem>.lock.json`` beside it (every difference train would refuse). Names are checked even when keys are wrong, so one run lists everything. ``data``: also
    parse every data file and list its bad rows (a few per file, with a count). An empty list: the
    recipe is ready to train. Strategy modules outside verticalize and the installed plugins are not
    imported unless ``trust_code`` (see ``load_recipe``)."""
    from verticalize.packs import find_recipe
    from verticalize.recipe import read_overlay, untrusted

    try:
        path = find_recipe(name)
        ov = read_overlay(path).with_overrides(list(overrides or []))
    except RecipeError as e:
        return list(e.problems)
    except VerticalizeError as e:
        return [str(e)]
    problems: list[str] = []
    recipe = None
    try:
        recipe = ov.parse()
    except RecipeError as e:
        problems += e.problems
    problems += _check_names(ov, path.parent)
    if recipe is None:
        return problems
    refused = [] if trust_code else untrusted(recipe, ov)
    problems += refused
    if not refused:  # import nothing from a recipe that is not trusted
        for key, ref in recipe.refs():
            problems += [f"{_at(ov, key)}: {p}" for p in _check_strategy(key, ref)]
    from verticalize.data.benchmarks import check_spec

    from verticalize.recipe import special_file

    for i, src in enumerate(recipe.data):  # file type, encoding, preset and layout, without reading rows
        if src.path is not None and special_file(Path(src.path)) is not None:
            continue  # a kernel/device file: reported by the path rules below, never opened
        problems += [f"{_at(ov, f'data[{i}]')}: data[{i}]: {p}" for p in check_spec(src, path.parent)]
    from verticalize.recipe import BenchmarkSuiteSpec, DataSpec

    for i, suite in enumerate(recipe.eval.suites):
        if isinstance(suite, BenchmarkSuiteSpec):
            where_s = _at(ov, f"eval.suites[{i}]")
            if not _data_exists(suite.path, path.parent):
                problems.append(f"{where_s}: eval.suites[{i}].path: file not found: {suite.path}")
                continue
            spec = DataSpec(path=suite.path, preset=suite.preset, config=suite.config, layout=suite.layout,
                            encoding=suite.encoding, split_file=suite.split_file, split=suite.split)
            problems += [f"{where_s}: eval.suites[{i}]: {p}" for p in check_spec(spec, path.parent)]
    from verticalize.run.rundir import check_paths

    for msg in check_paths(recipe, explicit_output=False, trust_paths=trust_paths):  # what train would refuse
        problems.append(f"{_at(ov, msg.split(':', 1)[0])}: {msg}")
    if not recipe.domain and not recipe.data:
        problems.append(f"{ov.chain[0]}: no training data: set domain: <pack> or data: [{{path: ...}}]")
    from verticalize.run.watch import watch_problems

    problems += [f"{_at(ov, msg.split(':', 1)[0])}: {msg}" for msg in watch_problems(recipe)]
    from verticalize.recipe.schema import FLASH_ATTENTION

    attn = recipe.base.attn_implementation
    if attn in FLASH_ATTENTION and importlib.util.find_spec(FLASH_ATTENTION[attn]) is None:
        problems.append(f"{_at(ov, 'base.attn_implementation')}: base.attn_implementation: {attn} needs the "
                        f"{FLASH_ATTENTION[attn].split('_interface')[0].replace('_', '-')} package and a CUDA GPU; it is "
                        f"not installed here (allowed without it: auto, eager, sdpa, flex_attention)")
    if data:
        problems += _check_data(recipe, ov, path.parent)
    from verticalize.team.lock import check_lock, lock_path

    try:  # a lock beside the recipe: what train would refuse (verticalize lock)
        problems += [f"{lock_path(path)}: {p}" for p in check_lock(path, recipe)]
    except VerticalizeError as e:
        problems.append(f"{lock_path(path)}: {e}")
    return problems


def _at(ov: Overlay, key: str) -> str:
    """file:line of a dotted key path (``data[0].path`` -> ``data.0.path``), or the recipe file."""
    from verticalize.recipe import Origin

    dotted = key.replace("[", ".").replace("]", "")
    under = [o for k, o in ov.provenance.items() if (k == dotted or k.startswith(dotted + ".")) and o.line]
    hit = min(under, key=lambda o: o.line or 0) if under else ov.origin(dotted)
    return str(hit or Origin(ov.chain[0]))


def _check_names(ov: Overlay, base_dir: Path) -> list[str]:
    """Names and paths in the raw recipe mapping: checked whether or not its keys validated."""
    from verticalize.models.loaders import resolve_model
    from verticalize.packs import list_domains, load_domain, resolve_ref
    from verticalize.recipe import BaseSpec

    raw = ov.data
    problems: list[str] = []
    base = raw.get("base")
    base = {"model": base} if isinstance(base, str) else base
    if isinstance(base, dict):
        try:
            resolve_model(BaseSpec.model_validate(base))
        except VerticalizeError as e:
            problems.append(f"{_at(ov, 'base.model')}: base.model: {e}")
        except ValueError:
            pass  # a bad key or value under base: reported by the schema
    domain = raw.get("domain")
    if isinstance(domain, str):
        try:
            load_domain(domain)  # resolves the name and validates the pack's domain.yaml
        except VerticalizeError as e:
            problems.append(f"{_at(ov, 'domain')}: domain: {e}")
    entries = raw.get("data")
    entries = [entries] if isinstance(entries, (str, dict)) else entries if isinstance(entries, list) else []
    for i, src in enumerate(entries):
        ref = src if isinstance(src, str) else src.get("path") if isinstance(src, dict) else None
        if isinstance(ref, str) and not _data_exists(ref, base_dir):
            problems.append(f"{_at(ov, f'data[{i}]')}: data[{i}].path: file not found: {ref}")
    ev = raw.get("eval")
    suites = ev.get("suites") if isinstance(ev, dict) else None
    for i, s in enumerate(suites if isinstance(suites, list) else []):
        if isinstance(s, str):
            try:
                resolve_ref("suite", s)
            except VerticalizeError as e:
                problems.append(f"{_at(ov, f'eval.suites[{i}]')}: eval.suites[{i}]: {e}")
    replay = raw.get("replay")
    r = replay.get("source", "general") if isinstance(replay, dict) else replay
    if isinstance(r, str) and resolve_ref("domain", r, missing_ok=True) is None and not _data_exists(r, base_dir):
        problems.append(f"{_at(ov, 'replay.source')}: replay.source: {r!r} is neither a domain pack "
                        f"({', '.join(list_domains())}) nor an existing data file")
    return problems


def _check_data(recipe: Recipe, ov: Overlay, base_dir: Path, per_file: int = 5) -> list[str]:
    """Parse every data file of ``data:``; list each file's bad rows (``per_file`` of them, then a count)."""
    from verticalize.data.pipeline import load_source

    problems: list[str] = []
    for i, src in enumerate(recipe.data):
        if src.path is None or not _data_exists(src.path, base_dir) or src.on_error == "skip":
            continue  # objects are checked by their Protocol; missing files are reported above
        try:
            _, info = load_source(src.model_copy(update={"on_error": "skip"}), base_dir=base_dir)
        except VerticalizeError as e:
            problems.append(f"{_at(ov, f'data[{i}]')}: data[{i}]: {e}")
            continue
        bad = info.get("skipped_examples") or []
        problems += [f"{_at(ov, f'data[{i}]')}: data[{i}]: {b}" for b in bad[:per_file]]
        if info.get("skipped", 0) > per_file:
            problems.append(f"{_at(ov, f'data[{i}]')}: data[{i}]: ... and {info['skipped'] - per_file} more bad rows "
                            f"in {info['source']}")
    return problems


def _check_strategy(key: str, ref: object) -> list[str]:
    """Import the ref (trust was checked when the recipe loaded) and check it against its Protocol."""
    from verticalize import strategies as st

    section = key.split("[", 1)[0]
    if section == "data":
        section = "data.source"
    if ".rewards[" in key:  # train.rewards[i] or train[j].rewards[i]: a Reward, not a Stage
        section = "train.rewards"
    if section == "eval.suites":  # a Task or a Suite: whichever it claims to be
        as_task = st.check_ref(ref, st.Task, key)
        return as_task if st.check_ref(ref, st.Suite, key) else []
    return st.check_ref(ref, st.PROTOCOLS.get(section, object), key)


def _data_exists(ref: str, base: Path) -> bool:
    p = Path(ref).expanduser()
    if p.exists() or (base / p).exists():
        return True
    # hub ids (org/name) and modelscope ids are checked when loaded
    return ref.startswith("modelscope:") or (not p.suffix and ref.count("/") == 1)
