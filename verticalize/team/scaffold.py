"""``verticalize init``: start a domain pack, a recipe or a plugin from a template that works at once.

``init_domain(name)`` writes a pack dir -- domain.yaml, train.jsonl, eval.jsonl, suite.yaml and a
README.md -- that ``packs.load_domain`` and ``evals.load_suite`` load as written.
``init_recipe(path, domain=..., base=...)`` writes a commented recipe that ``verticalize validate``
passes. ``init_plugin(name)`` writes an installable package that adds a domain pack, an eval suite
and a cleaning Step through verticalize's entry points. None overwrites anything without ``force``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from verticalize.errors import VerticalizeError

__all__ = ["METHODS", "PACK_FILES", "plugin_files", "init_domain", "init_recipe", "init_plugin"]

METHODS = ("lora", "qlora", "full")
PACK_FILES = ("domain.yaml", "train.jsonl", "eval.jsonl", "suite.yaml", "README.md")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

_DOMAIN_YAML = """\
# Domain pack "{name}" (written by `verticalize init domain`; README.md explains every file).
# Train on it with `domain: {dir}` in a recipe and score it with `eval: {{suites: [{dir}]}}`.
name: {name_q}
description: "TODO: one sentence on what this pack teaches (tasks, languages, sources)."
languages: [en]            # the languages of the rows (each row's `lang` field)
system_prompt:             # put before every training and eval conversation, per language
  en: "You are a careful {name} assistant. Answer precisely and say when a question is outside your field."
pot: false                 # true: numeric rows carry a gold Python `program` (Program-of-Thoughts)
train:                     # training data, paths relative to this dir; format: alpaca | sharegpt | messages ...
  - {{path: train.jsonl, format: messages}}
eval:                      # held-out data; training rows identical to these are dropped before training
  - {{path: eval.jsonl, format: messages}}
suites: {suites:<18} # the evaluation suite this pack defines (suite.yaml)
tasks:                     # every `task` used in the data, with its kind (mc | classification | numeric | generation)
  - {{name: definition, kind: generation, description: "Explain a term of the field in one or two sentences."}}
  - {{name: term_mc, kind: mc, description: "Pick the option that matches a definition (letters A-D)."}}
  - {{name: calculation, kind: numeric, description: "A calculation whose answer is one number."}}
provenance:                # where each data file comes from and under which license
  - {{file: train.jsonl, source: "TODO: how the rows were written or collected", license: "TODO"}}
  - {{file: eval.jsonl, source: "TODO: held-out rows, never shown in training", license: "TODO"}}
"""

_SUITE_YAML = """\
# The {name} evaluation suite: eval.jsonl scored per task by its kind (mc and classification by
# log-likelihood, numeric by tolerance or PoT, generation by ROUGE-L). See verticalize/evals/suite.py.
name: {name_q}
role: domain             # domain: a gain is the goal; retention: a drop is forgetting
system_prompt: pack      # use the pack's per-language system prompt; or a string
data:
  - {{path: eval.jsonl, format: messages}}
"""

_README = """\
# Domain pack `{name}`

Written by `verticalize init domain`. Replace the example rows with your own, then check the pack:

```bash
verticalize init recipe {name}.yaml --domain {dir} --base tiny   # a recipe that uses this pack
verticalize validate {name}.yaml
verticalize train {name}.yaml
```

| file | what it holds |
|---|---|
| `domain.yaml` | the pack's name, description, languages, system prompt per language, the train and eval files with their format, the suite, the task list (name, kind, description) and each file's provenance and license |
| `train.jsonl` | training rows, one JSON object per line, `messages` format: `{{"messages": [{{"role": "user", ...}}, {{"role": "assistant", ...}}], "task": ..., "kind": ..., "lang": ...}}` |
| `eval.jsonl` | held-out rows in the same format, never trained on (identical training rows are dropped); they must carry what their kind is scored by (below) |
| `suite.yaml` | the evaluation suite over `eval.jsonl`: its name, role (`domain` or `retention`) and system prompt |
| `README.md` | this file |

Every row has a `task` (listed under `tasks:` in domain.yaml), a `kind` and a `lang`. By kind:

- `generation`: scored by ROUGE-L against the assistant turn;
- `mc`: `choices` (the options, in order) and `answer` (the letter); the assistant turn reads `B. <option>`;
- `classification`: `labels` (the allowed labels) and `answer` (one of them);
- `numeric`: `answer` is a number; with `pot: true` a row may also carry a `program` that sets `answer`.
"""


def _row(task: str, kind: str, user: str, assistant: str, **extra: object) -> str:
    row = {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}],
           "task": task, "kind": kind, "lang": "en", **extra}
    return json.dumps(row, ensure_ascii=False)


def _train_rows(name: str) -> list[str]:
    return [
        _row("definition", "generation", f"In {name}, what does the term 'baseline' mean?",
             "A baseline is the reference measurement that later results are compared against."),
        _row("term_mc", "mc", "Which term means 'the reference measurement later results are compared against'?\n"
             "A. Outlier\nB. Baseline\nC. Variance\nD. Median\nAnswer with the letter of the correct option.",
             "B. Baseline", choices=["Outlier", "Baseline", "Variance", "Median"], answer="B"),
        _row("calculation", "numeric", "A value rose from 80 to 100. What is the percent change?",
             "Percent change = (100 - 80) / 80 x 100 = 25%. The answer is 25.", answer=25.0),
    ]


def _eval_rows(name: str) -> list[str]:
    return [
        _row("definition", "generation", f"In {name}, what is an outlier?",
             "An outlier is an observation far away from the other observations."),
        _row("term_mc", "mc", "Which term means 'an observation far away from the others'?\n"
             "A. Baseline\nB. Median\nC. Outlier\nD. Variance\nAnswer with the letter of the correct option.",
             "C. Outlier", choices=["Baseline", "Median", "Outlier", "Variance"], answer="C"),
        _row("calculation", "numeric", "A value fell from 200 to 150. What is the percent change?",
             "Percent change = (150 - 200) / 200 x 100 = -25%. The answer is -25.", answer=-25.0),
    ]


def init_domain(name: str, directory: str | Path | None = None, force: bool = False) -> Path:
    """Write a domain pack dir (default ``./<name>``); refuses a non-empty dir unless ``force``."""
    if not _NAME.match(name):
        raise VerticalizeError(f"domain name {name!r} is not allowed: use letters, digits, '_', '-' and '.', "
                               "starting with a letter or digit (e.g. tax-law)")
    d = Path(directory) if directory is not None else Path(name)
    if d.exists() and not d.is_dir():
        raise VerticalizeError(f"{d} exists and is not a directory; choose another --dir")
    if d.is_dir() and any(d.iterdir()) and not force:
        raise VerticalizeError(f"{d} is not empty; pass --force to overwrite its {', '.join(PACK_FILES)} "
                               "(other files are kept), or choose another --dir")
    d.mkdir(parents=True, exist_ok=True)
    shown = d.as_posix()
    files = {
        "domain.yaml": _DOMAIN_YAML.format(name=name, name_q=_q(name), suites=_q([name]), dir=shown),
        "train.jsonl": "\n".join(_train_rows(name)) + "\n",
        "eval.jsonl": "\n".join(_eval_rows(name)) + "\n",
        "suite.yaml": _SUITE_YAML.format(name=name, name_q=_q(name)),
        "README.md": _README.format(name=name, dir=shown),
    }
    for fname, text in files.items():
        (d / fname).write_text(text, encoding="utf-8")
    return d


_METHOD_YAML = {
    "lora": """\
method:
  kind: lora                 # lora | qlora (4-bit frozen base: big models on one GPU) | full
  r: 16                      # LoRA rank: capacity of the adapter
  alpha: 32                  # scaling = alpha / r
  dropout: 0.05
  target_modules: auto       # auto: the model family's attention + MLP projections; or all-linear, or a list
""",
    "qlora": """\
method:
  kind: qlora                # lora | qlora (4-bit frozen base: big models on one GPU) | full
  bits: 4                    # bitsandbytes quantization of the frozen base: 4 or 8
  quant_type: nf4            # nf4 | fp4
  double_quant: true
  r: 16                      # LoRA rank: capacity of the adapter
  alpha: 32                  # scaling = alpha / r
  dropout: 0.05
  target_modules: auto       # auto: the model family's attention + MLP projections; or all-linear, or a list
""",
    "full": """\
method:
  kind: full                 # every weight is trained: most memory, no adapter (lora | qlora | full)
""",
}

_RECIPE_YAML = """\
# {domain_name} on {base} with {method} (written by `verticalize init recipe`).
# Check: verticalize validate {path}   Full recipe with defaults: verticalize show {path}
# Train: verticalize train {path}      Pin data and versions: verticalize lock {path}
# Any key may be left out (its default applies); another recipe can start with `extends: {path}`.

# The model to adapt: an alias (verticalize ls models), a Hugging Face id, "modelscope:<id>" or a local dir.
base:
  model: {base_q}
  source: auto               # auto | hf | modelscope | local | offline

# The domain pack: a bundled name (verticalize ls domains) or a pack dir (verticalize init domain).
domain: {domain_q}

# More domain data, mixed with the pack's: jsonl/json/csv/parquet, a dataset dir or a hub id.
# data:
#   - {{path: data/my_train.jsonl, format: alpaca}}   # alpaca | sharegpt | messages | text | prompt_completion

# Cleaning of the domain data before mixing.
clean:
  dedup: exact               # none | exact | near
  pii: redact                # keep | redact (phones, emails, IDs, bank card numbers)
  quality: true              # drop empty responses and degenerate repetition

# Replay: a share of general data mixed in against catastrophic forgetting (verticalize sweep measures it).
{replay}

# The adaptation method: which weights train, and how the frozen base is stored.
{method_yaml}
# Training: supervised fine-tuning (TRL SFTTrainer); device-aware defaults for precision and packing.
train:
  kind: sft
  epochs: 1                  # max_steps, when set, overrides epochs
  lr: {lr:<22} # peak learning rate
  batch_size: 4              # sequences per device per step
  grad_accum: 4              # sequences per optimizer step = batch_size x grad_accum
  max_length: 1024           # tokens per training sequence
  scheduler: cosine          # cosine | linear | constant | constant_with_warmup
  warmup_ratio: 0.03
  seed: 42
  save_steps: 200            # checkpoint every this many optimizer steps

# Program-of-Thoughts: numeric answers are Python programs run in a sandbox.
pot: {{enabled: {pot}, timeout_s: 2.0}}

# Evaluation before and after training: the domain suite, and general (retention: its drop is forgetting).
eval:
  suites: {suites}
  when: [before, after]
  # max_examples: 100        # per suite; leave out to score every example

# The run dir; leave out for runs/<domain>-<base>-<time>.
# output_dir: runs/my-run
"""


def _q(value: str) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().removesuffix("...").strip()


def init_recipe(path: str | Path | None, *, domain: str, base: str, method: str = "lora", force: bool = False
                ) -> Path:
    """Write a commented recipe for ``domain`` on ``base``; refuses an existing file unless ``force``."""
    from verticalize.models.loaders import resolve_model
    from verticalize.packs import list_domains, load_domain
    from verticalize.recipe import BaseSpec, parse_recipe

    if method not in METHODS:
        raise VerticalizeError(f"--method {method!r} is not allowed; allowed: {', '.join(METHODS)}")
    pack = load_domain(domain)  # unknown names: UnknownNameError with the closest pack
    resolve_model(BaseSpec(model=base))  # unknown aliases: UnknownNameError with the closest alias
    stem = f"{Path(domain).name}-{Path(base).name}-{method}".lower().replace(":", "-").replace("/", "-")
    out = Path(path) if path is not None else Path(f"{stem}.yaml")
    if out.is_dir():
        raise VerticalizeError(f"{out} is a directory; give the recipe file's path, e.g. {out / (stem + '.yaml')}")
    if out.exists() and not force:
        raise VerticalizeError(f"{out} already exists; pass --force to overwrite it, or give another path")
    bundled = domain in list_domains()
    suites = [domain] if bundled or pack.suite_path() is not None or pack.eval else []
    if pack.name != "general" and "general" in list_domains():
        suites.append("general")
        replay = "replay: {source: general, ratio: 0.2, by: examples}   # 0 < ratio < 1: share of the final mix"
    else:
        replay = "# replay: {source: general, ratio: 0.2, by: examples}"
    text = _RECIPE_YAML.format(
        domain_name=pack.name, base=base, method=method, path=out.as_posix(), base_q=_q(base), domain_q=_q(domain),
        replay=replay, method_yaml=_METHOD_YAML[method], lr="2.0e-5" if method == "full" else "2.0e-4",
        pot="true" if pack.pot else "false", suites=_q(suites) if suites else "[]",
    )
    parse_recipe(yaml.safe_load(text), source=str(out), text=text)  # the template must validate as written
    if out.parent != Path("."):
        out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


# ---- init plugin -------------------------------------------------------------------------------
_PLUGIN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")

_PYPROJECT = """\
# A verticalize plugin (written by `verticalize init plugin {name}`): a domain pack, an eval suite and a
# cleaning step. Once this package is installed (pip install .), verticalize finds them through the entry
# points below: `verticalize ls domains|suites|strategies` lists them with this distribution as origin.
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{name} for verticalize: a domain pack, an eval suite and a cleaning step"
readme = "README.md"
requires-python = ">=3.10"
dependencies = []  # the step imports nothing of verticalize: its Protocols are structural

[project.entry-points."verticalize.packs"]       # name -> a package whose dir holds domain.yaml
{name} = "{pkg}.pack"

[project.entry-points."verticalize.suites"]      # name -> a package whose dir holds suite.yaml
{name}-exam = "{pkg}.exam"

[project.entry-points."verticalize.strategies"]  # name -> a class meeting a verticalize.strategies Protocol
{name}-drop-marked = "{pkg}.steps:DropMarked"

[tool.setuptools]
packages = ["{pkg}", "{pkg}.pack", "{pkg}.exam"]

[tool.setuptools.package-data]
"{pkg}.pack" = ["*.yaml", "*.jsonl"]
"{pkg}.exam" = ["*.yaml", "*.jsonl"]
"""

_PLUGIN_INIT = '''\
"""{name}: a verticalize plugin.

- ``{pkg}.pack``: the domain pack ``{name}`` (domain.yaml, train.jsonl, eval.jsonl): ``domain: {name}``
- ``{pkg}.exam``: the eval suite ``{name}-exam`` (suite.yaml, exam.jsonl): ``eval: {{suites: [{name}-exam]}}``
- ``{pkg}.steps.DropMarked``: a cleaning Step: ``clean: {{steps: [{{target: {pkg}.steps:DropMarked}}]}}``

The entry points in pyproject.toml make verticalize find them once the package is installed.
"""
'''

_PLUGIN_PACK_INIT = '''\
"""The {name} domain pack: data only (domain.yaml and its files live in this package's dir)."""
'''

_PLUGIN_EXAM_INIT = '''\
"""The {name}-exam eval suite: data only (suite.yaml and exam.jsonl live in this package's dir)."""
'''

_PLUGIN_DOMAIN_YAML = """\
# Domain pack "{name}" of the {dist} plugin (written by `verticalize init plugin`). Installed, it is
# `domain: {name}` in a recipe; `verticalize ls domains` shows it. Keys: see verticalize.packs.DomainPackSpec.
name: {name_q}
description: "TODO: one sentence on what this pack teaches (tasks, languages, sources)."
languages: [en]
system_prompt:
  en: "You are a careful {name} assistant. Answer precisely; for calculations give the final number."
pot: true                  # numeric rows carry a gold Python `program` (Program-of-Thoughts)
train:                     # paths relative to this dir; format: alpaca | sharegpt | messages | ...
  - {{path: train.jsonl, format: alpaca}}
eval:                      # held-out rows: training rows identical to these are dropped before training
  - {{path: eval.jsonl, format: alpaca}}
suites: [{name}, {name}-exam]   # this pack's eval split, and the plugin's exam suite
tasks:                     # every `task` of the rows, with the kind that says how it is scored
  - {{name: definition, kind: generation, description: "Explain a term in one sentence (ROUGE-L)."}}
  - {{name: term_mc, kind: mc, description: "Pick the option that matches a definition (letters A-D)."}}
  - {{name: calculation, kind: numeric, description: "A calculation whose answer is one number."}}
provenance:
  - {{file: train.jsonl, source: "TODO: how the rows were written or collected (the row marked [draft] is dropped by DropMarked)", license: "TODO"}}
  - {{file: eval.jsonl, source: "TODO: held-out rows, never shown in training", license: "TODO"}}
"""

_PLUGIN_SUITE_YAML = """\
# The {name}-exam eval suite of the {dist} plugin (written by `verticalize init plugin`). Installed, it is
# `eval: {{suites: [{name}-exam]}}` in a recipe. Keys: see verticalize.packs.SuiteSpec.
name: {name}-exam
role: domain               # domain: a gain is the goal; retention: general ability, a drop is forgetting
system_prompt: "You are a careful {name} assistant. Answer precisely; for calculations give the final number."
data:                      # relative to this file; each row's `kind` says how it is scored
  - {{path: exam.jsonl, format: alpaca}}
"""

_PLUGIN_STEPS = '''\
"""A cleaning Step for verticalize, written structurally: no import of verticalize, no base class.

verticalize calls a Step on consecutive batches of examples (dicts) and records ``counts()`` in the
run's manifest (see verticalize.strategies.Step). A recipe names it by import path::

    clean:
      steps:
        - {{target: {pkg}.steps:DropMarked, args: {{marker: "[draft]"}}}}

Installed plugins are trusted: such a recipe validates and trains without --trust-code.
"""

from __future__ import annotations

import json
from typing import Any


class DropMarked:
    """Drops the examples whose text contains ``marker`` (rows still being written); counts them."""

    name = "drop_marked"

    def __init__(self, marker: str = "[draft]"):
        self.marker = marker
        self.dropped = 0

    def __call__(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = [ex for ex in batch if self.marker not in json.dumps(ex, ensure_ascii=False)]
        self.dropped += len(batch) - len(kept)
        return kept

    def counts(self) -> dict[str, int]:
        return {{"dropped": self.dropped}}
'''

_PLUGIN_README = """\
# {dist}

A [verticalize](https://pypi.org/project/verticalize/) plugin, written by `verticalize init plugin {name}`.
It adds three things through entry points (see `pyproject.toml`):

| entry point group | name | what | in a recipe |
|---|---|---|---|
| `verticalize.packs` | `{name}` | domain pack `{pkg}/pack/` (domain.yaml, train.jsonl, eval.jsonl) | `domain: {name}` |
| `verticalize.suites` | `{name}-exam` | eval suite `{pkg}/exam/` (suite.yaml, exam.jsonl) | `eval: {{suites: [{name}-exam]}}` |
| `verticalize.strategies` | `{name}-drop-marked` | cleaning Step `{pkg}.steps:DropMarked` | `clean: {{steps: [{{target: {pkg}.steps:DropMarked}}]}}` |

```bash
pip install -e .             # or: pip install . / a wheel built with `python -m build`
verticalize ls domains       # {name}  plugin {dist} 0.1.0 ...
verticalize ls suites        # {name}-exam  plugin {dist} 0.1.0 ...
verticalize ls strategies    # {name}-drop-marked  plugin {dist} 0.1.0  Step ...
```

A recipe using all three (an installed plugin is trusted: no `--trust-code` needed):

```yaml
base: tiny
domain: {name}
clean:
  steps:
    - {{target: {pkg}.steps:DropMarked, args: {{marker: "[draft]"}}}}
eval: {{suites: [{name}, {name}-exam], when: [before, after]}}
train: {{max_steps: 20}}
```

Replace the example rows with your own. Every row has `task`, `kind` and `lang`; by kind it also
carries: `mc` -- `choices` and the `answer` letter; `classification` -- `labels` and `answer`;
`numeric` -- a number `answer` (and, with `pot: true`, a `program` that sets `answer`);
`generation` -- nothing more (scored by ROUGE-L against `output`). The Step in `{pkg}/steps.py`
imports nothing of verticalize: any class with `name`, `__call__(batch)` and `counts()` is a Step.
"""


def _alpaca(id_: str, task: str, kind: str, instruction: str, output: str, **extra: object) -> str:
    row = {"id": id_, "task": task, "kind": kind, "lang": "en", "instruction": instruction, "input": "",
           "output": output, **extra}
    return json.dumps(row, ensure_ascii=False)


def _options(options: list[str], question: str) -> str:
    letters = "".join(f"\n{'ABCD'[i]}. {o}" for i, o in enumerate(options))
    return f"{question}{letters}\nAnswer with the letter of the correct option."


def _plugin_rows(p: str) -> dict[str, list[str]]:
    owed = ["Accounts payable", "Accounts receivable", "Equity", "Depreciation"]
    owes = ["Accounts receivable", "Revenue", "Accounts payable", "Inventory"]
    docs = ["Invoice", "Receipt", "Budget", "Ledger"]
    return {
        "train": [
            _alpaca(f"{p}-term_mc-000001", "term_mc", "mc",
                    _options(owed, "Which term means 'money a company is owed by its customers'?"),
                    "B. Accounts receivable", answer="B", choices=owed),
            _alpaca(f"{p}-calculation-000001", "calculation", "numeric",
                    "An invoice of $1200 is paid with a 2% early-payment discount. How much is paid?",
                    "Paid = 1200 x (1 - 0.02) = 1176. The answer is 1176.", answer=1176.0,
                    program="amount = 1200\ndiscount = 0.02\nanswer = round(amount * (1 - discount), 2)"),
            _alpaca(f"{p}-calculation-000002", "calculation", "numeric",
                    "A value rose from 80 to 100. What is the percent change?",
                    "Percent change = (100 - 80) / 80 x 100 = 25%. The answer is 25.", answer=25.0,
                    program="old = 80\nnew = 100\nanswer = round((new - old) / old * 100, 2)"),
            _alpaca(f"{p}-definition-000001", "definition", "generation", "What is an invoice?",
                    "An invoice is a document a seller sends a buyer, listing the goods or services, their prices "
                    "and the amount due."),
            _alpaca(f"{p}-definition-000002", "definition", "generation", "What is a budget?",
                    "A budget is a plan of the income and spending expected over a period."),
            _alpaca(f"{p}-definition-000003", "definition", "generation", "[draft] What is a ledger?",
                    "TODO: write the answer."),
        ],
        "eval": [
            _alpaca(f"{p}-term_mc-000101", "term_mc", "mc",
                    _options(owes, "Which term means 'money a company owes to its suppliers'?"),
                    "C. Accounts payable", answer="C", choices=owes),
            _alpaca(f"{p}-calculation-000101", "calculation", "numeric",
                    "An invoice of $800 is paid with a 5% early-payment discount. How much is paid?",
                    "Paid = 800 x (1 - 0.05) = 760. The answer is 760.", answer=760.0,
                    program="amount = 800\ndiscount = 0.05\nanswer = round(amount * (1 - discount), 2)"),
            _alpaca(f"{p}-definition-000101", "definition", "generation", "What is a receipt?",
                    "A receipt is a document confirming that a payment has been received."),
        ],
        "exam": [
            _alpaca(f"{p}-exam-000001", "calculation", "numeric", "A price of $250 rises by 10%. What is the new price?",
                    "New price = 250 x 1.10 = 275. The answer is 275.", answer=275.0),
            _alpaca(f"{p}-exam-000002", "term_mc", "mc",
                    _options(docs, "Which document confirms that a payment has been received?"),
                    "B. Receipt", answer="B", choices=docs),
            _alpaca(f"{p}-exam-000003", "expense_type", "classification",
                    "Is this expense operating or capital? Answer with exactly one of: operating, capital.",
                    "operating", answer="operating", labels=["operating", "capital"]),
        ],
    }


def plugin_files(name: str) -> dict[str, str]:
    """The files of a plugin package named ``name`` (relative path -> text), as ``init_plugin`` writes them."""
    pkg = _plugin_package(name)
    fmt = {"name": name, "name_q": _q(name), "pkg": pkg, "dist": f"verticalize-{name.lower()}"}
    rows = _plugin_rows(name)
    return {
        "pyproject.toml": _PYPROJECT.format(**fmt),
        "README.md": _PLUGIN_README.format(**fmt),
        f"{pkg}/__init__.py": _PLUGIN_INIT.format(**fmt),
        f"{pkg}/steps.py": _PLUGIN_STEPS.format(**fmt),
        f"{pkg}/pack/__init__.py": _PLUGIN_PACK_INIT.format(**fmt),
        f"{pkg}/pack/domain.yaml": _PLUGIN_DOMAIN_YAML.format(**fmt),
        f"{pkg}/pack/train.jsonl": "\n".join(rows["train"]) + "\n",
        f"{pkg}/pack/eval.jsonl": "\n".join(rows["eval"]) + "\n",
        f"{pkg}/exam/__init__.py": _PLUGIN_EXAM_INIT.format(**fmt),
        f"{pkg}/exam/suite.yaml": _PLUGIN_SUITE_YAML.format(**fmt),
        f"{pkg}/exam/exam.jsonl": "\n".join(rows["exam"]) + "\n",
    }


def _plugin_package(name: str) -> str:
    import keyword
    import sys

    if not _PLUGIN_NAME.match(name):
        raise VerticalizeError(f"plugin name {name!r} is not allowed: use letters, digits, '_' and '-', starting with "
                               "a letter (e.g. acme-tax); the Python package is named after it (acme_tax)")
    pkg = name.lower().replace("-", "_")
    reserved = set(getattr(sys, "stdlib_module_names", ())) | {"verticalize", "tests", "test", "site"}
    if keyword.iskeyword(pkg) or pkg in reserved:
        what = "a Python keyword" if keyword.iskeyword(pkg) else "a module of Python or verticalize"
        raise VerticalizeError(f"plugin name {name!r} is not allowed: its package {pkg!r} would be {what}; choose "
                               f"another name (e.g. {pkg}-pack)")
    return pkg


def init_plugin(name: str, directory: str | Path | None = None, force: bool = False) -> Path:
    """Write an installable plugin package (default dir ``./<name>``): pyproject.toml with the three
    entry-point groups, a domain pack, an eval suite, a Step class and a README. Refuses a non-empty
    dir unless ``force`` (then only the plugin's own files are overwritten; others are kept)."""
    files = plugin_files(name)
    d = Path(directory) if directory is not None else Path(name)
    if d.exists() and not d.is_dir():
        raise VerticalizeError(f"{d} exists and is not a directory; choose another --dir")
    if d.is_dir() and any(d.iterdir()) and not force:
        raise VerticalizeError(f"{d} is not empty; pass --force to overwrite the plugin's files there (pyproject.toml, "
                               f"README.md, {_plugin_package(name)}/...; other files are kept), or choose another --dir")
    for rel, text in files.items():
        f = d / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")
    return d
