"""The run log: library bars, logging and deprecations go to the file; verticalize's own output stays on the console."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import pytest

from verticalize.console import Meter, bar, bars_enabled, close_bar, console, run_log


def test_library_output_goes_to_the_log_not_the_console(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log_path = tmp_path / "run.log"
    lib = logging.getLogger("accelerate.fake_for_test")  # like transformers': its own handler on stderr
    lib.propagate = False
    handler = logging.StreamHandler(sys.stderr)
    lib.addHandler(handler)
    bare = logging.getLogger("trl.fake_for_test")  # no handler: Python's last resort writes to sys.stderr
    bare.propagate = False
    with warnings.catch_warnings(), run_log(log_path):
        warnings.simplefilter("always")  # the project's pytest config ignores warnings; a user's Python shows them
        from tqdm import tqdm

        for _ in tqdm(range(3), desc="Truncating train dataset"):  # a library's bar: on sys.stderr
            pass
        sys.stderr.write("Map: 100%|##| 5/5\r")
        sys.stderr.write("\r     \r")  # a bar clearing its line (leave=False) keeps its last state in the log
        warnings.warn_explicit("`x` is deprecated", FutureWarning,
                               str(Path(sys.prefix) / "lib/site-packages/transformers/modeling_utils.py"), 3)
        warnings.warn_explicit("the kernels module is not installed", UserWarning,
                               "/usr/lib/python3/site-packages/transformers/integrations/hub_kernels.py", 9)
        warnings.warn_explicit("PoT sandbox: running without seccomp", UserWarning,
                               str(Path(__file__).parents[1] / "verticalize" / "pot" / "sandbox.py"), 266)
        lib.warning("a library's logging")
        bare.warning("a bare library logger")
        logging.getLogger("verticalize").warning("a warning of ours")
        b = bar(4, "sft:lora", "step")
        b.update(4)
        close_bar(b)
        with Meter("eval after").suite("finance", 6) as tick:
            tick(2.5)
            tick(10)
            tick.score(0.5)
    err = capsys.readouterr().err
    text = log_path.read_text()
    lib.removeHandler(handler)
    assert handler.stream is sys.stderr  # pointed back at the console
    for noise in ("Truncating", "Map:", "FutureWarning", "kernels", "a library's logging", "a bare library logger"):
        assert noise not in err and noise in text, noise
    assert "PoT sandbox: running without seccomp" in err and "PoT sandbox" in text
    assert "a warning of ours" in text  # on the console too when nothing else handles logging (pytest does here)
    assert "sft:lora" in err and "eval after: finance" in err and "6/6" in err
    assert "progress: sft:lora: 100%" in text and "progress: eval after: finance: 100%" in text
    assert text.count("Truncating train dataset") == 1  # one line per bar: its final state
    assert sys.stderr is not None and console() is sys.stderr  # put back


def test_bars_off_when_quiet_or_tqdm_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bars_enabled() and not bars_enabled(quiet=True)
    assert bar(3, "x", "ex", quiet=True) is None
    monkeypatch.setenv("TQDM_DISABLE", "1")  # what `verticalize -q` sets
    assert not bars_enabled() and bar(3, "x", "ex") is None


def test_nested_log_of_the_same_file_is_one_log(tmp_path: Path) -> None:
    p = tmp_path / "run.log"
    with run_log(p):
        outer = sys.stderr
        with run_log(p):
            assert sys.stderr is outer
            print("inner", file=sys.stderr)
    assert p.read_text().count("inner") == 1
