"""What every command shares: the error wrapper (one line, never a traceback), ``-q`` and ``--set``."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

from verticalize.errors import VerticalizeError

__all__ = ["friendly", "set_option", "silence_progress", "TRACEBACK_ENV"]

#: set to 1 to see the traceback of an unexpected error (a bug) instead of its one-line summary
TRACEBACK_ENV = "VERTICALIZE_TRACEBACK"


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def friendly(fn: Any) -> Any:
    """Errors as words: a VerticalizeError is its message and exit code 2 (a preempted run: 128 + the signal's
    number); a failed read or write is the path and the cause; anything else -- a bug -- is one line naming
    the exception and exit code 1 (``VERTICALIZE_TRACEBACK=1`` shows the traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VerticalizeError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(getattr(e, "exit_code", 2))
        except KeyboardInterrupt:
            click.echo("interrupted: the unfinished run dir keeps the suffix .incomplete", err=True)
            sys.exit(130)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except MemoryError:
            click.echo("error: out of memory", err=True)
            sys.exit(1)
        except Exception as e:  # the CLI's promise: never a traceback
            if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
                raise
            if isinstance(e, OSError) and e.strerror:
                where = f"{e.filename}: " if e.filename else ""
                click.echo(f"error: {where}{e.strerror}", err=True)
                sys.exit(2)
            what = "input nested too deeply" if isinstance(e, RecursionError) else _one_line(e)[:500]
            click.echo(f"error: internal error ({type(e).__name__}): {what}. This is a bug in verticalize; "
                       f"{TRACEBACK_ENV}=1 shows the traceback", err=True)
            sys.exit(1)

    return wrapper


_quiet_depth = 0
_QUIET_ENV = {"TQDM_DISABLE": "1",  # tqdm reads TQDM_* defaults when it is imported
              "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
              "TRANSFORMERS_VERBOSITY": "error", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "DATASETS_VERBOSITY": "error"}


@contextlib.contextmanager
def silence_progress(quiet: bool = True) -> Iterator[None]:
    """``-q``: no progress bars (tqdm's, transformers' "Loading weights", datasets' and TRL's map bars) and no
    library chatter below errors while the command runs. Set through the environment before those libraries
    are imported (the CLI imports them lazily; the environment also reaches worker processes), and directly
    on the ones already imported. Everything is put back afterwards (a command run in-process, by a test)."""
    global _quiet_depth
    if not quiet or _quiet_depth:  # not asked, or already quiet (``verticalize -q train -q``)
        yield
        return
    import warnings

    saved_env = {k: os.environ.get(k) for k in _QUIET_ENV}
    os.environ.update(_QUIET_ENV)
    libs = _hf_logging()
    saved = [(lib, lib.get_verbosity(), lib.is_progress_bar_enabled()) for lib in libs]
    for lib in libs:
        lib.disable_progress_bar()
        lib.set_verbosity_error()
    _quiet_depth += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        _quiet_depth -= 1
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        known = {id(lib) for lib, _, _ in saved}
        for lib in _hf_logging():  # imported meanwhile, under the quiet environment: back to their defaults
            if id(lib) not in known:
                saved.append((lib, lib.WARNING, True))
        with warnings.catch_warnings():  # "cannot enable: the environment says no" when the user set it so
            warnings.simplefilter("ignore")
            for lib, verbosity, bars in saved:
                lib.set_verbosity(verbosity)
                (lib.enable_progress_bar if bars else lib.disable_progress_bar)()


def _hf_logging() -> list[Any]:
    """transformers' and datasets' logging modules, where already imported (never imports them)."""
    out = []
    if "transformers" in sys.modules:
        from transformers.utils import logging as tlog

        out.append(tlog)
    if "datasets" in sys.modules:
        from datasets.utils import logging as dlog

        out.append(dlog)
    return out


def set_option(fn: Any) -> Any:
    return click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                        help="Override a recipe key, e.g. --set train.lr=1e-4 (repeatable).")(fn)
