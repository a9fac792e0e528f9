"""The example notebook executes offline (fast on the tiny base; as shipped on SmolLM2 under -m slow),
and Adapter, Run and EvalReport render usefully in Jupyter."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

NOTEBOOK = REPO / "examples" / "prototype_finance_model.ipynb"


def _execute(tmp_path: Path, params: str | None, timeout: int) -> tuple[Any, float]:
    """Run the notebook in ``tmp_path`` (the parameters cell replaced by ``params``)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    if params is not None:
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = params
    # the kernel imports this checkout's verticalize, whatever else is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    t = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute(env=env)
    seconds = time.perf_counter() - t
    nbformat.write(nb, tmp_path / "executed.ipynb")  # to look at when a check fails
    return nb, seconds


def _cell_seconds(nb: Any) -> list[float]:
    from datetime import datetime

    out = []
    for c in nb.cells:
        ex = c.metadata.get("execution", {})
        if "iopub.execute_input" in ex and "shell.execute_reply" in ex:
            t0, t1 = (datetime.fromisoformat(ex[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
            out.append(round((t1 - t0).total_seconds(), 1))
    return out


def _outputs(nb: Any) -> tuple[str, list[dict[str, Any]]]:
    """All text the cells printed or displayed, and every output bundle; fails on any error output."""
    texts, bundles = [], []
    for c in nb.cells:
        for o in c.get("outputs", []):
            assert o["output_type"] != "error", f"cell failed: {o.get('ename')}: {o.get('evalue')}\n{c.source}"
            bundles.append(o)
            if o["output_type"] == "stream":
                texts.append(o["text"])
            else:
                data = o.get("data", {})
                texts += [data.get(k, "") for k in ("text/plain", "text/markdown", "text/html")]
    return "\n".join(texts), bundles


def _check(nb: Any, run_dir: Path) -> str:
    text, bundles = _outputs(nb)
    assert (run_dir / "manifest.json").is_file()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"
    # the adapter as YAML, the data steps with the realised replay ratio, a chat-templated example
    assert "```yaml" in text and "domain: finance" in text
    assert "| replay |" in text and "replay ratio: asked 0.2, realised" in text
    assert "<|im_start|>assistant" in text and "```python" in text
    # the loss curve and the report plot as image outputs; the Run and the score tables
    pngs = [b for b in bundles if "image/png" in b.get("data", {})]
    assert len(pngs) >= 2
    assert "verticalize run" in text and "status complete" in text and "data:image/png;base64," in text
    assert "| suite | before | after | gain |" in text and "numeric_match" in text
    assert "Q: Net income rose" in text and ("-> sandbox" in text or "-> no program" in text)
    return text


def test_notebook_runs_on_tiny(tmp_path: Path) -> None:
    params = f'BASE = "tiny"\nSTEPS = 3\nEVAL_MAX = 4\nMAX_NEW_TOKENS = 8\nOUT = {str(tmp_path)!r}\n'
    nb, seconds = _execute(tmp_path, params, timeout=120)
    _check(nb, tmp_path / "finance-run")
    print(f"notebook on tiny: {seconds:.1f} s; cells {_cell_seconds(nb)}")


@pytest.mark.slow
def test_notebook_as_shipped(tmp_path: Path) -> None:
    """SmolLM2-135M, 30 LoRA steps, 24 eval questions: minutes on a CPU."""
    nb = pytest.importorskip("nbformat").read(NOTEBOOK, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'BASE = "smollm2-135m"' in params.source and "STEPS = 30" in params.source
    source = params.source.replace("tempfile.mkdtemp(", f"tempfile.mkdtemp(dir={str(tmp_path)!r}, ")
    nb, seconds = _execute(tmp_path, source, timeout=900)
    runs = list(tmp_path.glob("verticalize-notebook-*/finance-run"))
    assert len(runs) == 1
    text = _check(nb, runs[0])
    assert "-> sandbox ok" in text  # the trained SmolLM2 writes programs that run
    print(f"notebook as shipped: {seconds:.1f} s; cells {_cell_seconds(nb)}")


def test_notebook_is_generated_and_stripped() -> None:
    """The committed notebook is what examples/_make_notebook.py writes, with no outputs."""
    nbformat = pytest.importorskip("nbformat")
    import importlib.util

    spec = importlib.util.spec_from_file_location("_make_notebook", REPO / "examples" / "_make_notebook.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    shipped = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(shipped)
    assert [c.source for c in shipped.cells] == [c.source for c in mod.build().cells]
    for c in shipped.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None


# ---- rich reprs ------------------------------------------------------------------------------

def _report() -> Any:
    from verticalize.evals.report import EvalReport

    task = {"primary": "numeric_match", "n": 4, "score": 0.0, "kind": "numeric", "metrics": {}}
    stage = {"finance": {"score": 0.25, "role": "domain", "tasks": {"percent_change": {**task, "score": 0.25}}},
             "general": {"score": 0.5, "role": "retention", "tasks": {"capital": {**task, "score": 0.5}}}}
    after = {"finance": {**stage["finance"], "score": 0.75,
                         "tasks": {"percent_change": {**task, "score": 0.75}}},
             "general": {**stage["general"], "score": 0.25, "tasks": {"capital": {**task, "score": 0.25}}}}
    return EvalReport({"before": stage, "after": after})


def test_eval_report_reprs() -> None:
    rep = _report()
    md, html = rep._repr_markdown_(), rep._repr_html_()
    assert "| finance | percent_change | numeric_match | 4 | 0.250 | 0.750 | +0.500 |" in md
    assert "| **general** (retention) | 4 | 0.500 [0.15, 0.85] | 0.250 [0.00, 0.59] | -0.250 [-0.73, +0.23] |" in md
    assert "- domain gain on **finance**: +0.500" in md and "- forgetting on **general**: +0.250 (dropped)" in md
    assert html.count("<table>") == 2 and "<td>percent_change</td>" in html and "<td>+0.500</td>" in html
    assert "<b>general</b> (retention)" in html and "forgetting on <b>general</b>: +0.250 (dropped)" in html
    assert "**" not in html


def test_run_and_adapter_reprs(tmp_path: Path) -> None:
    from tests.conftest import tiny_adapter
    from verticalize import Run

    adapter = tiny_adapter(tmp_path, None, max_steps=2, max_length=256).evaluate_with(
        "finance", tasks=["percent_change"], languages=["en"], max_examples=2, generation={"max_new_tokens": 4})
    md = adapter._repr_markdown_()
    assert "Adapter(base='tiny'" in md and "```yaml\n" in md and "domain: finance" in md
    run = adapter.train(output_dir=tmp_path / "run", quiet=True)
    md, html = run._repr_markdown_(), run._repr_html_()
    for text in (md, html):
        assert "verticalize run" in text and "status complete, weights in adapter/" in text
        assert "base tiny, domain finance, method lora, train sft" in text and "steps 2, train loss " in text
    assert "![loss](" in md and "| finance | percent_change |" in md
    # both plots inline (they display wherever the notebook and the run dir are), then the tables
    assert html.count('src="data:image/png;base64,') == 2
    assert "<table>" in html and "<td>percent_change</td>" in html
    (run.output_dir / "eval" / "train" / "report.png").unlink()
    assert Run(run.output_dir)._repr_html_().count("data:image/png;base64,") == 1
