"""The built-in evaluation Suite is a verticalize.strategies.Suite: ``tasks()`` gives Task objects
(BuiltinTask) that score like run_suites does; ``by_task()`` is the old dict of examples by task."""

from __future__ import annotations

import pytest

from verticalize import strategies as st
from verticalize.evals.suite import BuiltinTask, Suite, load_suite


def test_builtin_suites_meet_the_protocols() -> None:
    for name in ("finance", "general", "legal", "medical"):
        suite = load_suite(name)
        assert isinstance(suite, st.Suite) and suite.role == ("retention" if name == "general" else "domain")
        tasks = suite.tasks()
        assert tasks and all(isinstance(t, st.Task) and isinstance(t, BuiltinTask) for t in tasks)
        assert [t.name for t in tasks] == list(suite.by_task())
        assert sum(len(t.examples()) for t in tasks) == len(suite.examples)
        assert {t.kind for t in tasks} <= {"mc", "classification", "numeric", "generation"}


def test_scoring_without_a_model() -> None:
    ex = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "The answer is 25."}],
           "answer": 25.0, "kind": "numeric", "task": "pc"},
          {"messages": [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "10"}],
           "answer": 10.0, "kind": "numeric", "task": "pc"}]
    task = Suite("s", tuple(ex)).tasks()[0]
    assert task.score(ex, ["It is 25", "no idea"]) == {"numeric_match": 0.5, "parsed": 0.5, "score": 0.5}
    fake = st.FakeExecutor(default=25.0)  # PoT: the program in each text is run, here by a test double
    pot_task = BuiltinTask("pc", "numeric", tuple(ex), pot=True, executor=fake)
    scores = pot_task.score(ex, ["```python\nanswer = 25\n```", "```python\nanswer = 3\n```"])
    assert scores["score"] == 0.5 and [p.strip() for p in fake.programs] == ["answer = 25", "answer = 3"]
    mc = [{"answer": "B"}, {"answer": "C"}]
    assert BuiltinTask("t", "mc", ()).score(mc, ["B", "A"]) == {"acc": 0.5, "score": 0.5}


@pytest.fixture(scope="module")
def tiny():
    from verticalize.models import load_model, load_tokenizer, resolve_model
    from verticalize.recipe import BaseSpec

    resolved = resolve_model(BaseSpec(model="tiny"))
    return load_model(resolved), load_tokenizer(resolved)


@pytest.mark.parametrize("suite,task", [("finance", "term_mc"), ("finance", "headline_sentiment")])
def test_builtin_task_scores_like_run_suites(tiny, suite: str, task: str) -> None:
    """The protocol view (predict through EngineLM, then score) gives run_suites' score for the task."""
    from verticalize.evals import run_suites
    from verticalize.evals.runner import EngineLM
    from verticalize.recipe import EvalSpec

    model, tok = tiny
    cfg = EvalSpec(languages=["en"], tasks=[task], batch_size=8)
    batched = run_suites(model, tok, [suite], cfg)[suite]["tasks"][task]
    (t,) = load_suite(suite).select(["en"], [task]).tasks()
    examples = t.examples()
    preds = t.predict(EngineLM(model, tok, cfg), examples)
    scores = t.score(examples, preds)
    assert len(examples) == batched["n"] > 5
    assert scores["score"] == pytest.approx(batched["score"]) and scores["score"] == scores[batched["primary"]]
    assert [s["prediction"] for s in batched["samples"]] == preds[:5]
