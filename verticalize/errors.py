"""The error tree. Every error a user can cause is a :class:`VerticalizeError`.

Each message names what was wrong (a key path, a file and line, a name) and what is allowed.
The CLI turns any ``VerticalizeError`` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "VerticalizeError",
    "RecipeError",
    "UnknownNameError",
    "DataError",
    "MissingDependencyError",
    "ModelLoadError",
    "SandboxError",
    "RunError",
    "LockError",
    "closest",
    "line_index",
    "first_model",
]


class VerticalizeError(Exception):
    """Base class of every error a user of verticalize can cause."""


class RecipeError(VerticalizeError, ValueError):
    """A recipe (YAML, keyword arguments or ``--set`` override) is invalid.

    ``problems`` holds every problem found, so ``validate`` can report them all at once.
    """

    def __init__(self, message: str, problems: list[str] | None = None, source: str | None = None):
        self.problems = problems or [message]
        self.source = source
        super().__init__(message)


class UnknownNameError(VerticalizeError, KeyError):
    """A name (model alias, domain, suite, format...) that is not registered."""

    def __init__(self, kind: str, name: str, allowed: Iterable[str], hint: str = ""):
        self.kind, self.name = kind, name
        self.allowed = sorted(allowed)
        near = closest(name, self.allowed)
        msg = f"unknown {kind} {name!r}"
        if near:
            msg += f"; did you mean {near!r}?"
        msg += f" Allowed: {', '.join(self.allowed) if self.allowed else '(none)'}"
        if hint:
            msg += f". {hint}"
        self.message = msg
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class DataError(VerticalizeError, ValueError):
    """Bad training or evaluation data; the message names the file and line."""


class MissingDependencyError(VerticalizeError, ImportError):
    """An optional package is missing; the message gives the pip command that fixes it."""


class ModelLoadError(VerticalizeError, RuntimeError):
    """A base model could not be resolved or loaded."""


class SandboxError(VerticalizeError, RuntimeError):
    """The PoT sandbox itself broke (not the program it ran): terminal for that sandbox."""


class RunError(VerticalizeError, RuntimeError):
    """A run directory is missing, incomplete or not a verticalize run."""


class LockError(VerticalizeError, RuntimeError):
    """A recipe lock (``<recipe>.lock.json``) exists and differs from what would train now, or is unreadable.

    ``problems`` lists every mismatch (data file hashes, package versions, recipe keys).
    """

    def __init__(self, message: str, problems: list[str] | None = None, lock: object = None):
        self.problems = problems or [message]
        self.lock = lock
        super().__init__(message)


#: key paths deeper than this are not indexed (a recipe is a few levels deep; a hostile one is refused anyway)
_LINE_INDEX_DEPTH = 64


def first_model(ann: Any) -> Any:
    """The first pydantic model class inside a type annotation (``list[X] | None`` -> ``X``), or None: which
    spec owns the keys under a field, for the messages about recipes, packs and suites."""
    import typing

    from pydantic import BaseModel

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):
        m = first_model(arg)
        if m is not None:
            return m
    return None


def line_index(text: str) -> dict[tuple, int]:
    """Map the key paths of a YAML document to 1-based line numbers (``("train", 0, "path") -> 9``), so
    that messages about a recipe, a domain.yaml or a suite file can name the line. Where the text does
    not parse, the paths seen before the error (the parser's own error names the line then).

    Reads the parser's event stream, never a composed tree: an alias is one event, not a copy of
    what it names (an alias bomb costs what its text costs), and nesting depth costs no recursion."""
    import yaml

    out: dict[tuple, int] = {}
    # one frame per open collection: [path, is_mapping, expecting_a_key, current_key, next_index]
    stack: list[list] = []
    node_events = (yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)
    try:
        for ev in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when there
            if isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
                continue
            if isinstance(ev, yaml.DocumentEndEvent):
                break  # the first document only (a recipe is one document)
            if not isinstance(ev, node_events):
                continue
            path: tuple | None = ()
            if stack:
                top = stack[-1]
                if top[1] and top[2]:  # a mapping key
                    top[2] = False
                    top[3] = ev.value if isinstance(ev, yaml.ScalarEvent) else None  # complex keys: not indexed
                    if top[0] is not None and top[3] is not None:
                        out[top[0] + (top[3],)] = ev.start_mark.line + 1
                    path = None  # what a key contains is not a key path
                elif top[1]:  # a mapping value
                    top[2] = True
                    path = top[0] + (top[3],) if top[0] is not None and top[3] is not None else None
                else:  # a sequence item
                    path = top[0] + (top[4],) if top[0] is not None else None
                    if path is not None:
                        out[path] = ev.start_mark.line + 1
                    top[4] += 1
            if isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) >= 4 * _LINE_INDEX_DEPTH:
                    break  # hostile nesting: PyYAML's scanner is quadratic in flow depth; index what came before
                if path is not None and len(path) >= _LINE_INDEX_DEPTH:
                    path = None  # deeper keys are not indexed: memory stays linear in the text
                stack.append([path, isinstance(ev, yaml.MappingStartEvent), True, None, 0])
    except yaml.YAMLError:
        pass
    return out


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """Return the candidate closest to ``name`` (case-insensitive), or None.

    >>> closest("finanse", ["finance", "legal"])
    'finance'
    """
    cands = [str(c) for c in candidates]
    lowered = {c.lower(): c for c in cands}
    key = str(name).lower()
    prefixed = sorted(c for c in lowered if len(key) >= 3 and (c.startswith(key) or key.startswith(c)))
    if len(prefixed) == 1:
        return lowered[prefixed[0]]
    hit = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    return lowered[hit[0]] if hit else None
