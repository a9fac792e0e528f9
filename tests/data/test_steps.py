"""The built-in cleaning steps as Step objects: the same result as the fused clean pass."""

from __future__ import annotations

import pytest

from verticalize import strategies as st
from verticalize.data.clean import clean_examples
from verticalize.data.pipeline import load_pack_split, run_step
from verticalize.data.steps import default_steps
from verticalize.packs import load_domain
from verticalize.recipe import CleanSpec
from verticalize.strategies import ref_of


@pytest.mark.parametrize("spec", [CleanSpec(dedup="near", pii="redact"), CleanSpec(dedup="exact", max_length=400),
                                  CleanSpec(dedup="none", quality=False, min_length=80)])
def test_step_objects_equal_the_fused_pass(spec: CleanSpec) -> None:
    examples, _ = load_pack_split(load_domain("finance"), "train")
    examples = examples[:600]
    # duplicates (exact, and near: one word changed), PII, an empty answer and a repetitive text
    examples += examples[:40] + [{**ex, "messages": [*ex["messages"][:-1], {"role": "assistant",
                                 "content": ex["messages"][-1]["content"] + " Indeed."}]} for ex in examples[40:60]]
    examples.append({"messages": [{"role": "user", "content": "Call me at 13812345678 or a@b.com"},
                                  {"role": "assistant", "content": "ok"}]})
    examples.append({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]})
    examples.append({"text": "ab" * 300})
    fused, report = clean_examples(examples, spec)
    staged = examples
    counts = []
    for step in default_steps(spec):
        assert isinstance(step, st.Step)
        staged, rep = run_step(ref_of(step, "clean.steps[0]"), staged, "clean.steps[0]", batch_size=97)
        counts.append(rep)
    assert staged == fused
    assert [(r["step"], r["in"], r["out"]) for r in counts] == [(r["step"], r["in"], r["out"]) for r in report]
    assert len(fused) < len(examples)
