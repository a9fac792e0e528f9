"""What every command shares: the error wrapper (one line, exit 2, never a traceback) and ``--set``."""

from __future__ import annotations

import functools
import sys
from typing import Any

import click

from verticalize.errors import VerticalizeError

__all__ = ["friendly", "set_option"]


def friendly(fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VerticalizeError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(getattr(e, "exit_code", 2))  # 2; a preempted run: 128 + the signal's number
        except KeyboardInterrupt:
            click.echo("interrupted: the unfinished run dir keeps the suffix .incomplete", err=True)
            sys.exit(130)

    return wrapper


def set_option(fn: Any) -> Any:
    return click.option("--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
                        help="Override a recipe key, e.g. --set train.lr=1e-4 (repeatable).")(fn)

