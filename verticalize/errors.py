"""The error tree. Every error a user can cause is a :class:`VerticalizeError`.

Each message names what was wrong (a key path, a file and line, a name) and what is allowed.
The CLI turns any ``VerticalizeError`` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

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


def line_index(text: str) -> dict[tuple, int]:
    """Map the key paths of a YAML document to 1-based line numbers (``("train", 0, "path") -> 9``), so
    that messages about a recipe, a domain.yaml or a suite file can name the line. Empty when the text
    does not parse (the parser's own error names the line then)."""
    import yaml

    out: dict[tuple, int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out

    def walk(node: object, path: tuple) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                out[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                out[path + (i,)] = v.start_mark.line + 1
                walk(v, path + (i,))

    if root is not None:
        walk(root, ())
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
