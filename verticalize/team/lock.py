"""Recipe locks: pin what a training run reads, so a teammate's run is the same run.

``verticalize lock r.yaml`` writes ``r.lock.json`` beside the recipe. It is JSON, not YAML: it is
written by a program, never by hand, and JSON keeps every value exact (no YAML 1.1 surprises such
as ``no`` -> false or ``1e-4`` read as a string), needs only the standard library to read, and
matches the run dir's ``manifest.json``. Keys are sorted and indented, so the lock diffs well
in review. It holds:

- ``recipe``: the resolved recipe (after ``extends:``, ``--set`` and defaults);
- ``data``: sha256 and size of every file the training data is built from -- the domain pack's
  ``domain.yaml`` (system prompts), the files its training stages read (``train:`` for sft,
  ``corpus:`` for cpt, ``preference:`` for dpo) and its eval files (training rows identical to
  held-out ones are dropped, so they shape the training set too), the ``data:`` sources that are
  local files or dirs (hub dataset ids are recorded by id only), and the replay source's pack files
  or file (sft stages only);
- ``base``: the base model's files with sha256 when it is a local dir or an offline alias already
  built in the cache (``"not built"`` otherwise); a hub id is recorded by id and revision only;
- ``versions``: verticalize, torch, transformers, peft, trl, datasets, accelerate, bitsandbytes,
  evaluate and pydantic, read with importlib.metadata (nothing is imported).

``verticalize train`` refuses a recipe whose lock no longer matches (:class:`LockError`, listing
every mismatch) unless given ``--ignore-lock``. Files are hashed in 1 MiB chunks; nothing is cached.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from verticalize.errors import LockError
from verticalize.versions import PACKAGES, package_versions

__all__ = ["LOCK_SUFFIX", "PACKAGES", "build_lock", "check_lock", "data_files", "enforce_lock", "lock_path",
           "read_lock", "write_lock"]

LOCK_SUFFIX = ".lock.json"
LOCK_FORMAT = 1
_NOT_BUILT = "not built"


def lock_path(recipe_path: str | Path) -> Path:
    """``dir/r.yaml`` -> ``dir/r.lock.json``."""
    p = Path(recipe_path)
    return p.with_name(p.stem + LOCK_SUFFIX)


def _entry(path: Path) -> dict[str, Any]:
    from verticalize.data.pipeline import fingerprint

    return {"sha256": fingerprint(path), "size": path.stat().st_size}


def _dir_files(root: Path) -> dict[str, dict[str, Any]]:
    """Every file under ``root`` (hidden files and dirs such as .git skipped), by relative POSIX path."""
    out = {}
    for f in sorted(root.rglob("*")):
        rel = f.relative_to(root)
        if f.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = _entry(f)
    return out


def _pack_files(pack: Any, role: str, splits: tuple[str, ...], out: dict[str, dict[str, Any]]) -> None:
    out[f"{role}:{pack.name}/domain.yaml"] = _entry(pack.dir / "domain.yaml")
    for split in splits:
        for src in getattr(pack, split, ()):
            p = pack.dir / src["path"]
            key = f"{role}:{pack.name}/{src['path']}"
            if p.is_dir():
                out.update({f"{key}/{k}": v for k, v in _dir_files(p).items()})
            else:
                out[key] = _entry(p) if p.is_file() else {"missing": True}


def _source_files(ref: str, base_dir: Path, role: str, out: dict[str, dict[str, Any]]) -> None:
    """A ``data:`` / replay source as training reads it: the current dir first, then the recipe's dir."""
    p = Path(ref).expanduser()
    if not p.exists() and not p.is_absolute() and (base_dir / p).exists():
        p = base_dir / p
    key = f"{role}:{ref}"
    if p.is_file():
        out[key] = _entry(p)
    elif p.is_dir():
        out.update({f"{key}/{k}": v for k, v in _dir_files(p).items()})
    elif ref.startswith("modelscope:") or (not p.suffix and ref.count("/") == 1):
        out[key] = {"hub": ref}
    else:
        out[key] = {"missing": True}


def _stage_kinds(recipe: Any) -> list[str]:
    stages = getattr(recipe, "stages", None) or [recipe.train]
    return [s.kind for s in stages]


def _pack_splits(kinds: list[str]) -> tuple[str, ...]:
    """The pack keys the training stages read (sft: train, cpt: corpus, dpo: preference), then eval
    (held-out rows are dropped from every kind's training data)."""
    try:
        from verticalize.data.pipeline import KIND_DATA

        by_kind = {k: v[0] for k, v in KIND_DATA.items()}
    except ImportError:
        by_kind = {"sft": "train"}
    return tuple(dict.fromkeys([by_kind.get(k, "train") for k in kinds] + ["eval"]))


def data_files(recipe: Any, base_dir: Path) -> dict[str, dict[str, Any]]:
    """Every data file the recipe's training data is built from, keyed ``role:name`` (see the module doc)."""
    from verticalize.packs import load_domain, resolve_ref

    out: dict[str, dict[str, Any]] = {}
    kinds = _stage_kinds(recipe)
    if recipe.domain:
        _pack_files(load_domain(recipe.domain), "domain", _pack_splits(kinds), out)
    for src in recipe.data:
        if src.path is not None:  # DataSource objects carry their own fingerprint (in the run manifest)
            _source_files(src.path, base_dir, "data", out)
    if recipe.replay is not None and recipe.replay.ratio > 0 and "sft" in kinds:  # replay mixes into sft only
        r = recipe.replay.source
        if not isinstance(r, str):
            pass  # a DataSource object: fingerprinted in the run manifest
        elif resolve_ref("domain", r, missing_ok=True) is not None:
            _pack_files(load_domain(r), "replay", ("train",), out)
        else:
            _source_files(r, base_dir, "replay", out)
    return out


def base_files(recipe: Any) -> dict[str, Any]:
    """The base model: where it comes from, and its files' hashes when they are on this machine."""
    from verticalize.models.loaders import resolve_model

    r = resolve_model(recipe.base)
    entry: dict[str, Any] = {"name": r.name, "source": r.source, "location": r.location, "revision": r.revision}
    if r.source == "local":
        entry["files"] = _dir_files(Path(r.location))
    elif r.source == "offline":
        from verticalize.models.offline import OFFLINE_BUILDERS, cache_dir

        built = cache_dir() / "models" / f"{r.location}-v{OFFLINE_BUILDERS[r.location][0]}"  # as offline.py builds it
        entry["location"] = r.location
        entry["files"] = _dir_files(built) if (built / "config.json").is_file() else _NOT_BUILT
    return entry


def build_lock(recipe_path: str | Path, recipe: Any, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The lock of a loaded recipe (``recipe_path`` is where relative data paths are also looked up)."""
    return {
        "lock_format": LOCK_FORMAT,
        "recipe_file": Path(recipe_path).name,
        "overrides": list(overrides),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": recipe.to_dict(),
        "data": data_files(recipe, Path(recipe_path).parent),
        "base": base_files(recipe),
        "versions": package_versions(),
    }


def write_lock(recipe_path: str | Path, recipe: Any, overrides: list[str] | tuple[str, ...] = (),
               force: bool = False) -> Path:
    """Write ``<recipe stem>.lock.json`` beside the recipe; an existing lock is kept unless ``force``."""
    out = lock_path(recipe_path)
    if out.exists() and not force:
        raise LockError(f"{out} already exists; pass --force to overwrite it (or delete it)")
    lock = build_lock(recipe_path, recipe, overrides)
    missing = [k for k, v in lock["data"].items() if v.get("missing")]
    if missing:
        from verticalize.errors import DataError

        raise DataError(f"cannot lock {recipe_path}: data file(s) not found: {', '.join(missing)} "
                        f"(looked in the current dir and in {Path(recipe_path).parent})")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def read_lock(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        lock = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LockError(f"{p}: not a readable lock file ({e}); recreate it with `verticalize lock --force`") from None
    need = ("recipe", "data", "base", "versions")
    if not isinstance(lock, dict) or any(not isinstance(lock.get(k), dict) for k in need):
        raise LockError(f"{p}: not a verticalize lock (needs the mappings {', '.join(need)}); "
                        "recreate it with `verticalize lock --force`")
    files = [(f"data[{k!r}]", v) for k, v in lock["data"].items()]
    if isinstance(lock["base"].get("files"), dict):
        files += [(f"base.files[{k!r}]", v) for k, v in lock["base"]["files"].items()]
    bad = [f"{key}: {why}" for key, entry in files if (why := _entry_problem(entry))]
    if bad:
        raise LockError(f"{p} is damaged or was edited by hand: {'; '.join(bad[:5])}"
                        + (f" (and {len(bad) - 5} more)" if len(bad) > 5 else "")
                        + "; recreate it with `verticalize lock --force`", problems=bad)
    return lock


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with one file entry of a lock (None: well formed)."""
    if not isinstance(entry, dict):
        return f"expected {{sha256, size}}, got {type(entry).__name__} {str(entry)[:40]!r}"
    if entry.get("missing") is True or isinstance(entry.get("hub"), str):
        return None
    sha, size = entry.get("sha256"), entry.get("size")
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        return f"sha256 {str(sha)[:70]!r} is not a sha256 (64 hex digits)"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"size {size!r} is not a byte count"
    return None


def _short(sha: Any) -> str:
    return str(sha)[:12] if sha else "none"


def _files_problems(what: str, locked: dict[str, Any], now: dict[str, Any]) -> list[str]:
    problems = []
    for key in list(locked) + [k for k in now if k not in locked]:
        a, b = locked.get(key), now.get(key)
        if b is None:
            problems.append(f"{what} {key}: in the lock but no longer read by the recipe")
        elif a is None:
            problems.append(f"{what} {key}: read by the recipe but not in the lock")
        elif b.get("missing"):
            problems.append(f"{what} {key}: missing (locked sha256 {_short(a.get('sha256'))})")
        elif a.get("sha256") != b.get("sha256"):
            problems.append(f"{what} {key} changed: sha256 {_short(a.get('sha256'))} (lock) -> "
                            f"{_short(b.get('sha256'))} (now), size {a.get('size')} -> {b.get('size')}")
    return problems


def check_lock(recipe_path: str | Path, recipe: Any) -> list[str]:
    """Every difference between the lock beside ``recipe_path`` and ``recipe`` as it would train now
    (an empty list when they match or when there is no lock)."""
    from verticalize.team.diff import diff_dicts

    lp = lock_path(recipe_path)
    if not lp.is_file():
        return []
    lock = read_lock(lp)
    problems = [f"recipe key {c.key}: lock {'(absent)' if c.kind == 'added' else repr(c.a)}, "
                f"now {'(absent)' if c.kind == 'removed' else repr(c.b)}"
                for c in diff_dicts(lock["recipe"], recipe.to_dict())]
    problems += _files_problems("data file", lock["data"], data_files(recipe, Path(recipe_path).parent))
    locked_base, base = lock["base"].get("files"), base_files(recipe).get("files")
    if isinstance(locked_base, dict) and isinstance(base, dict):
        problems += _files_problems("base model file", locked_base, base)
    now = package_versions()
    for name in list(lock["versions"]) + [n for n in now if n not in lock["versions"]]:
        if lock["versions"].get(name) != now.get(name):
            problems.append(f"package {name}: locked {lock['versions'].get(name) or 'not installed'}, "
                            f"installed {now.get(name) or 'not installed'}")
    return problems


def enforce_lock(recipe_path: str | Path, recipe: Any) -> None:
    """Raise :class:`LockError` listing every mismatch when a lock beside the recipe does not match."""
    problems = check_lock(recipe_path, recipe)
    if problems:
        lp = lock_path(recipe_path)
        raise LockError(f"{lp} does not match the recipe as it would train now ({len(problems)} problem(s)):\n  - "
                        + "\n  - ".join(problems)
                        + f"\nRe-lock with `verticalize lock {recipe_path} --force`, or train with --ignore-lock",
                        problems=problems, lock=lp)
