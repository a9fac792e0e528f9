"""Plugins: a pip-installed package adds a domain pack, an eval suite and a Step through the entry-point
groups verticalize.packs / .suites / .strategies; `verticalize ls` shows each with its origin; a recipe
using all three validates without --trust-code and trains. `verticalize init plugin` writes exactly the
committed fixture (tests/fixtures/plugin), so installing the fixture tests the scaffold's output.

The fixture is installed with ``pip install --no-deps --no-build-isolation --target <tmp>/site`` (never
into the running environment) and reached through PYTHONPATH / sys.path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner

from verticalize import VerticalizeError, packs
from verticalize.cli.main import cli

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "plugin"
ORIGIN = "plugin verticalize-acme 0.1.0"
_IGNORE = shutil.ignore_patterns("__pycache__", "build", "*.egg-info")


def _tree(d: Path) -> dict[str, str]:
    return {p.relative_to(d).as_posix(): p.read_text(encoding="utf-8") for p in sorted(d.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and ".egg-info" not in str(p) and "build" not in p.parts}


# ---- init plugin ---------------------------------------------------------------------------------
def test_init_plugin_writes_the_committed_fixture(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["init", "plugin", "acme", "--dir", str(tmp_path / "acme")])
    assert r.exit_code == 0, r.output
    written, fixture = _tree(tmp_path / "acme"), _tree(FIXTURE)
    assert written == fixture, ("tests/fixtures/plugin differs from `verticalize init plugin acme`; regenerate it: "
                                "verticalize init plugin acme --dir tests/fixtures/plugin --force")
    meta = tomllib.loads(written["pyproject.toml"])
    assert meta["project"]["name"] == "verticalize-acme"
    assert meta["project"]["entry-points"] == {"verticalize.packs": {"acme": "acme.pack"},
                                               "verticalize.suites": {"acme-exam": "acme.exam"},
                                               "verticalize.strategies": {"acme-drop-marked": "acme.steps:DropMarked"}}
    # the pack and the suite load as written (by path: nothing installed yet); the Step imports nothing of ours
    pack = packs.load_domain(tmp_path / "acme" / "acme" / "pack")
    assert pack.name == "acme" and pack.count("train") == 6 and pack.count("eval") == 3 and pack.pot
    from verticalize.evals.suite import load_suite

    suite = load_suite(tmp_path / "acme" / "acme" / "exam" / "suite.yaml")
    assert suite.name == "acme-exam" and {t.kind for t in suite.tasks()} == {"numeric", "mc", "classification"}
    assert "import verticalize" not in written["acme/steps.py"] and "from verticalize" not in written["acme/steps.py"]


def test_init_plugin_refuses_to_overwrite_and_bad_names(tmp_path: Path) -> None:
    d = tmp_path / "p"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    runner = CliRunner()
    r = runner.invoke(cli, ["init", "plugin", "acme", "--dir", str(d)])
    assert r.exit_code == 2 and r.output.startswith(f"error: {d} is not empty") and "--force" in r.output
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt"]
    r = runner.invoke(cli, ["init", "plugin", "acme", "--dir", str(d), "--force"])
    assert r.exit_code == 0 and (d / "acme" / "steps.py").is_file() and (d / "notes.txt").read_text() == "keep me"
    for bad, why in [("1acme", "starting with a letter"), ("json", "module of Python"), ("class", "keyword"),
                     ("a b", "not allowed"), ("verticalize", "module of Python or verticalize")]:
        r = runner.invoke(cli, ["init", "plugin", bad, "--dir", str(tmp_path / "x")])
        assert r.exit_code == 2 and why in r.output and "Traceback" not in r.output, (bad, r.output)
    assert not (tmp_path / "x").exists()
    r = runner.invoke(cli, ["init", "plugin", "acme-tax", "--dir", str(tmp_path / "t")])
    assert r.exit_code == 0 and (tmp_path / "t" / "acme_tax" / "pack" / "domain.yaml").is_file()
    assert '"verticalize.suites"]' in (tmp_path / "t" / "pyproject.toml").read_text()


# ---- the fixture, installed ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fixtures/plugin installed into a private --target dir (a copy is built: no build/ in the repo)."""
    tmp = tmp_path_factory.mktemp("plugin")
    shutil.copytree(FIXTURE, tmp / "src", ignore=_IGNORE)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                        "--disable-pip-version-check", "--target", str(tmp / "site"), str(tmp / "src")],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp / "site" / "acme" / "pack" / "domain.yaml").is_file()
    return tmp / "site"


def _run(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "verticalize.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600, check=False)


def _row(table: str, name: str) -> str:
    return next((line for line in table.splitlines() if line.split(" ", 1)[0] == name), "")


RECIPE = """\
base: tiny
domain: acme
clean:
  steps:
    - {target: acme.steps:DropMarked, args: {marker: "[draft]"}}
train: {max_steps: 2, batch_size: 2, grad_accum: 1, max_length: 128}
eval: {suites: [acme-exam], when: [after], generation: {max_new_tokens: 8}}
"""


def test_installed_plugin_is_listed_validates_untrusted_and_trains(site: Path, tmp_path: Path) -> None:
    r = _run(site, "ls", "domains", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert ORIGIN in _row(r.stdout, "acme") and "bundled" in _row(r.stdout, "finance")
    r = _run(site, "ls", "suites", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    exam = _row(r.stdout, "acme-exam")
    assert ORIGIN in exam and "classification,mc,numeric" in exam and "exam/suite.yaml" in exam
    assert ORIGIN in _row(r.stdout, "acme")  # the plugin pack is a suite too (its eval split)
    r = _run(site, "ls", "strategies", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    step = _row(r.stdout, "acme-drop-marked")
    assert ORIGIN in step and " Step " in step and "acme.steps:DropMarked" in step
    assert "Executor" in _row(r.stdout, "PythonSandbox") and "bundled" in _row(r.stdout, "PythonSandbox")

    (tmp_path / "r.yaml").write_text(RECIPE)
    r = _run(site, "validate", "r.yaml", cwd=tmp_path)  # no --trust-code: installed plugins are trusted
    assert r.returncode == 0 and "r.yaml: ok" in r.stdout, r.stdout + r.stderr
    r = _run(site, "train", "r.yaml", "-q", "--output-dir", "run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    step = next(s for s in m["data"]["steps"] if s["step"] == "drop_marked")
    assert step == {"step": "drop_marked", "in": 6, "out": 5, "target": "acme.steps:DropMarked", "dropped": 1}
    assert m["metrics"]["global_step"] == 2
    report = json.loads((tmp_path / "run" / "eval" / "train" / "report.json").read_text())
    assert report["stages"]["after"]["acme-exam"]["n"] == 3


@pytest.fixture
def on_path(site: Path, monkeypatch: pytest.MonkeyPatch):
    """The installed fixture importable in this process; its modules forgotten afterwards."""
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m == "acme" or m.startswith("acme.")]:
        del sys.modules[name]


def test_installed_plugin_in_process(on_path: Path) -> None:
    from verticalize.evals.suite import Suite, list_suites, load_suite

    assert "acme" in packs.list_domains() and packs.list_domains()[:4] == ["finance", "general", "legal", "medical"]
    assert {"acme", "acme-exam"} <= set(list_suites())
    pack = packs.load_domain("acme")
    assert pack.origin == ORIGIN and pack.dir == on_path / "acme" / "pack" and pack.suites == ("acme", "acme-exam")
    ref = packs.resolve_ref("suite", "acme-exam")
    assert ref.origin == ORIGIN and ref.plugin.dist == "verticalize-acme" and ref.path.name == "suite.yaml"
    exam = load_suite("acme-exam")
    assert isinstance(exam, Suite) and exam.name == "acme-exam" and len(exam.examples) == 3 and not exam.pot
    assert load_suite("acme").pot  # the pack's eval split, PoT as the pack says
    cls = packs.resolve_ref("strategy", "acme-drop-marked").obj
    step = cls()
    assert step([{"text": "[draft] x"}, {"text": "y"}]) == [{"text": "y"}] and step.counts() == {"dropped": 1}
    assert packs.is_trusted("acme.steps:DropMarked") and not packs.is_trusted("acmex.steps:X")
    from verticalize.strategies import Step

    assert isinstance(step, Step)


# ---- plugins of every shape, without installing ---------------------------------------------------------
FAKE = '''\
from pathlib import Path

HERE = Path(__file__).parent
PACK_DIR = "fakepack"              # a str: relative to this module's dir


def pack_dir():                    # a callable returning a path
    return HERE / "fakepack"


class Task:
    name = "always"

    def examples(self):
        return [{"id": "q1", "messages": [{"role": "user", "content": "hi"}], "answer": 1}]

    def predict(self, lm, examples):
        return [1 for _ in examples]

    def score(self, examples, predictions):
        return {"score": 1.0}


class MySuite:
    name = "objsuite"
    role = "domain"

    def tasks(self):
        return [Task()]


def suite_object():                # a callable returning a Suite object
    return MySuite()


def broken():
    raise RuntimeError("plugin bug")
'''


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, packs.Plugin]]:
    from verticalize.team.scaffold import init_domain

    (tmp_path / "vz_fake_plugin.py").write_text(FAKE)
    init_domain("fakepack", tmp_path / "fakepack")
    monkeypatch.syspath_prepend(str(tmp_path))
    P = lambda g, n, v: packs.Plugin(g, n, v, "fake-dist", "1.2")
    table = {
        "verticalize.packs": {"strpack": P("verticalize.packs", "strpack", "vz_fake_plugin:PACK_DIR"),
                              "fnpack": P("verticalize.packs", "fnpack", "vz_fake_plugin:pack_dir"),
                              "finance": P("verticalize.packs", "finance", "vz_fake_plugin:pack_dir"),
                              "gone": P("verticalize.packs", "gone", "vz_no_such_module")},
        "verticalize.suites": {"objsuite": P("verticalize.suites", "objsuite", "vz_fake_plugin:suite_object"),
                               "badsuite": P("verticalize.suites", "badsuite", "vz_fake_plugin:broken")},
        "verticalize.strategies": {},
    }
    monkeypatch.setattr(packs, "plugins", lambda group: dict(table[group]))
    yield table
    sys.modules.pop("vz_fake_plugin", None)


def test_plugin_shapes_clashes_and_broken_plugins(fakes: dict) -> None:
    from verticalize.cli import listing
    from verticalize.evals.suite import load_suite

    assert packs.load_domain("strpack").name == "fakepack" and packs.load_domain("fnpack").origin == "plugin fake-dist 1.2"
    with pytest.warns(packs.PluginClashWarning, match=r"'finance'.*bundled.*fake-dist 1\.2.*bundled one is used"):
        names = packs.list_domains()
    assert names.count("finance") == 1 and {"strpack", "fnpack", "gone"} <= set(names)
    with pytest.warns(packs.PluginClashWarning):
        assert packs.load_domain("finance").origin == "bundled"
    with pytest.raises(packs.PluginError, match=r"plugin 'gone' of fake-dist 1\.2 .*failed to load: ModuleNotFound"):
        packs.load_domain("gone")
    suite = load_suite("objsuite")  # a callable returning a Suite object: handed back as it is
    assert type(suite).__name__ == "MySuite" and suite.tasks()[0].name == "always"
    with pytest.raises(packs.PluginError, match=r"'badsuite' of fake-dist.*calling it failed: RuntimeError: plugin bug"):
        load_suite("badsuite")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", packs.PluginClashWarning)
        table = listing.domains()
        assert "error: plugin 'gone'" in _row(table, "gone") and "plugin fake-dist 1.2" in _row(table, "fnpack")
        suites = listing.suites()
    assert "1 task(s)" in _row(suites, "objsuite") and "error:" in _row(suites, "badsuite")
    assert "bundled" in _row(suites, "finance")


def test_plugin_suite_object_is_scored_by_run_suites(fakes: dict) -> None:
    """load_suite gives a plugin's own Suite object back; run_suites scores it like an evaluate_with object."""
    from verticalize.evals import run_suites
    from verticalize.recipe import EvalSpec

    out = run_suites(None, None, ["objsuite"], EvalSpec())
    assert out["objsuite"]["score"] == 1.0 and out["objsuite"]["tasks"]["always"]["n"] == 1


def test_strategy_plugin_errors_name_the_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    from verticalize.cli import listing

    bad = packs.Plugin("verticalize.strategies", "nope", "vz_missing_mod:X", "bad-dist", "0.0.1")
    monkeypatch.setattr(packs, "plugins", lambda group: {"nope": bad} if group == "verticalize.strategies" else {})
    table = listing.strategies()
    assert "plugin bad-dist 0.0.1" in _row(table, "nope") and "error:" in _row(table, "nope")
    with pytest.raises(VerticalizeError, match="unknown strategy plugin 'nop'; did you mean 'nope'"):
        packs.resolve_ref("strategy", "nop")


def test_protocols_of_user_classes() -> None:
    from tests import user_strategies as us
    from verticalize.cli.listing import builtin_strategies, protocols_of

    assert protocols_of(us.AlternateMixer) == ["Mixer"] and protocols_of(us.DropMentions()) == ["Step"]
    assert protocols_of(us.PercentSource) == ["DataSource"] and protocols_of(us.Recorder) == ["Reporter"]
    from verticalize.adapter import Adapter

    assert protocols_of(Adapter) == []  # has a mix() but not the Mixer's signature (keyword-only seed, length)
    found = {name: protos for name, _, protos in builtin_strategies()}
    assert found["PythonSandbox"] == ["Executor"] and found["SpecStage"] == ["Stage"]
    assert found["SpecMethod"] == ["Method"] and found["Suite"] == ["Suite"] and found["BuiltinTask"] == ["Task"]
    assert "Adapter" not in found
    code = textwrap.dedent("""\
        import sys
        from verticalize.cli.listing import strategies
        strategies()
        print('torch' in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert out.stdout.strip() == "False", out.stderr  # `ls strategies` reads the source: no torch
