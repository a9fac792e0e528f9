"""Pull the Python program out of a model's Program-of-Thoughts answer.

Rules of :func:`extract_program`, in order:

1. **Fenced blocks.** Blocks fenced with ```` ```python ````, ```` ```py ````, ```` ```python3 ````
   or a bare ```` ``` ```` (also ``~~~``) are code; blocks tagged with another language
   (```` ```json ````, ```` ```text ````...) are ignored. An unclosed last fence (a truncated
   generation) runs to the end of the text. Interactive ``>>>`` sessions are turned into code.
   With several blocks, all blocks up to and including the **last block that binds ``answer``
   or prints** are **joined in order** (models split imports/definitions from the computation,
   or correct themselves - the later binding wins when run); blocks after it that neither bind
   nor print (usage examples, tests) are dropped. If the joined code does not parse, the last
   block that parses and binds/prints is returned alone.
2. **Bare code.** Without fences, the whole text is used if it parses as Python and looks like
   code (an assignment, import, def, loop... or a ``print`` call - a lone word or sentence does
   not count). Otherwise the longest run of code-looking lines that parses is used, which skips
   prose before and after ("解：" ... "所以答案是 5。").
3. Otherwise ``None``.

The result is dedented, with trailing whitespace stripped, ending in one newline.
"""

from __future__ import annotations

import ast
import re
import textwrap

__all__ = ["extract_program", "binds_answer"]

_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+#.-]*)[^\n]*$", re.M)
_CODE_LANGS = {"", "python", "py", "python3", "py3", "pycon", "ipython", "python-repl"}
_CODE_NODES = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Import, ast.ImportFrom,
               ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.While, ast.If,
               ast.With, ast.Try, ast.Return)
_CODE_LINE = re.compile(
    r"""^(\s+\S|\s*$|\s*\#|
    \s*(import|from|def|class|for|while|if|elif|else|try|except|finally|with|return|print|
        assert|raise|pass|break|continue|lambda|global|nonlocal|del)\b|
    \s*[A-Za-z_][\w.\[\]'", ]*\s*(=|\+=|-=|\*=|/=|//=|%=|\*\*=)[^=]|
    \s*[A-Za-z_][\w.]*\(.*\)\s*$|\s*[)\]}])""", re.X)


def extract_program(text: str | None) -> str | None:
    """Return the Python program in ``text`` (see the module docstring), or ``None``."""
    if not text or not text.strip():
        return None
    blocks = _fenced_blocks(text)
    if blocks is not None:
        return _choose(blocks)
    return _bare_code(text)


def binds_answer(code: str) -> bool:
    """True when ``code`` assigns the global ``answer`` or calls ``print``."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return _binds(tree)


# ------------------------------------------------------------------ internals
def _binds(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "answer" and isinstance(node.ctx, ast.Store):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "print":
            return True
    return False


def _fenced_blocks(text: str) -> list[str] | None:
    """Code blocks of a fenced text; None when the text has no fences at all."""
    fences = list(_FENCE.finditer(text))
    if not fences:
        return None
    blocks, i = [], 0
    while i < len(fences):
        opening = fences[i]
        marker, lang = opening.group(1), opening.group(2).lower()
        close = next((j for j in range(i + 1, len(fences)) if not fences[j].group(2)
                      and fences[j].group(1).startswith(marker[:3])), None)
        end = fences[close].start() if close is not None else len(text)
        body = text[opening.end():end].strip("\n")
        if lang in _CODE_LANGS and body.strip():
            blocks.append(_from_repl(body) if lang in ("pycon", "python-repl") or
                          body.lstrip().startswith(">>>") else body)
        if close is None:
            break
        i = close + 1
    return blocks


def _from_repl(body: str) -> str:
    lines = []
    for line in textwrap.dedent(body).splitlines():
        if line.startswith((">>> ", "... ")) or line in (">>>", "..."):
            lines.append(line[4:])
    return "\n".join(lines)


def _clean(code: str) -> str:
    lines = [ln.rstrip() for ln in textwrap.dedent(code).splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def _parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _choose(blocks: list[str]) -> str | None:
    blocks = [_clean(b) for b in blocks if b.strip()]
    if not blocks:
        return None
    trees = [_parse(b) for b in blocks]
    binding = [i for i, t in enumerate(trees) if t is not None and _binds(t)]
    keep = blocks[: binding[-1] + 1] if binding else blocks
    joined = _clean("\n".join(keep))
    if _parse(joined) is not None:
        return joined
    if binding:
        return blocks[binding[-1]]
    parsable = [b for b, t in zip(blocks, trees) if t is not None]
    return parsable[-1] if parsable else blocks[-1]


def _looks_like_code(tree: ast.Module | None) -> bool:
    if tree is None or not tree.body:
        return False
    for node in tree.body:
        if isinstance(node, _CODE_NODES):
            return True
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and \
                isinstance(node.value.func, ast.Name) and node.value.func.id == "print":
            return True
    return False


def _bare_code(text: str) -> str | None:
    if any(line.lstrip().startswith(">>> ") for line in text.splitlines()):
        text = _from_repl(text)
    whole = _clean(text)
    if _looks_like_code(_parse(whole)):
        return whole
    lines = text.splitlines()
    runs, start = [], None
    for i, line in enumerate(lines):
        if _CODE_LINE.match(line):
            start = i if start is None else start
        elif start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(lines)))
    best: tuple[bool, int, str] | None = None
    for a, b in runs:
        for lo, hi in _spans(a, b):
            code = _clean("\n".join(lines[lo:hi]))
            tree = _parse(code)
            if _looks_like_code(tree):
                key = (_binds(tree), sum(1 for ln in code.splitlines() if ln.strip()), code)
                if best is None or key[:2] >= best[:2]:
                    best = key
                break
    return best[2] if best else None


def _spans(a: int, b: int, limit: int = 6):
    """Candidate sub-spans of lines[a:b], widest first (trim up to ``limit`` lines per side)."""
    out = [(a + i, b - j) for i in range(min(limit, b - a)) for j in range(min(limit, b - a - i))]
    return sorted(out, key=lambda s: s[0] - s[1])
