"""Verifiable-reward RL (GRPO) and KTO on the tiny offline base: built-in rewards on hand-made answers,
recipes, validation, data, and real TRL trainers (no mocks of TRL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verticalize import Adapter, DataError, RecipeError, RunError


def _c(text: str) -> list[dict[str, str]]:
    """A completion as TRL hands conversational ones to reward functions."""
    return [{"role": "assistant", "content": text}]


def _log(run) -> list[dict]:
    d = run.output_dir
    path = d / "train_log.jsonl" if (d / "train_log.jsonl").is_file() else max((d / "stages").glob("*")) / "train_log.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()]


# ---- built-in rewards on hand-made completions ----------------------------------------------
def test_pot_answer_runs_the_program_in_the_sandbox_and_checks_the_gold_answer() -> None:
    from verticalize.train.rewards import PotAnswer

    r = PotAnswer()
    try:
        got = r(prompts=[None] * 6,
                completions=[_c("```python\nanswer = round((120 - 100) / 100 * 100, 2)\n```"),
                             _c("```python\nanswer = 21\n```"),
                             _c("The percent change is 20."),           # no program: wrong for PoT
                             _c("```python\nanswer = 1 / 0\n```"),     # the program fails: wrong, no crash
                             _c("```python\nanswer = 20.015\n```"),    # within the eval's tolerance
                             _c("C. Gross margin")],
                answer=["20.0", "20.0", "20.0", "20.0", "20", "C"],
                kind=["numeric"] * 5 + ["mc"])
    finally:
        r.close()
    assert got == [1.0, 0.0, 0.0, 0.0, 1.0, None]  # None: not a numeric example, not judged


def test_pot_answer_takes_any_executor() -> None:
    from verticalize.strategies import FakeExecutor
    from verticalize.train.rewards import PotAnswer

    fake = FakeExecutor(answers={"answer = 6\n": 6.0}, default=0.0)
    got = PotAnswer(executor=fake)(prompts=[None] * 3, completions=["```python\nanswer = 6\n```", "```python\nx = 1\n```",
                                                                    "```python\nanswer = 6\n```"],
                                   answer=["6", "6", None], kind=["numeric"] * 3)
    assert got == [1.0, 0.0, None] and fake.programs == ["answer = 6\n", "x = 1\n"]


def test_numeric_answer_choice_match_and_format() -> None:
    from verticalize.train.rewards import AnswerFormat, ChoiceMatch, NumericAnswer

    cols = {"answer": ["20.0", "20.0", "C", "C", "ABD", "ABD", "x"],
            "kind": ["numeric", "numeric", "mc", "mc", "mc_multi", "mc_multi", "generation"],
            "choices": [None, None, ["a", "b", "c", "d"], ["a", "b", "c", "d"], list("abcde"), list("abcde"), None],
            "pot": [True, False, False, False, False, False, False]}
    texts = ["```python\nanswer = 20\n```", "The answer is 21.", "C. Gross margin", "Answer: B", "答案：D、A、B", "AB",
             "anything"]
    comps = [_c(t) for t in texts]
    assert NumericAnswer()(prompts=[None] * 7, completions=comps, **cols) == [1.0, 0.0, None, None, None, None, None]
    assert ChoiceMatch()(prompts=[None] * 7, completions=comps, **cols) == [None, None, 1.0, 0.0, 1.0, 0.0, None]
    assert AnswerFormat()(prompts=[None] * 7, completions=comps, **cols) == [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, None]
    bad = {**cols, "pot": [True] * 7}
    assert AnswerFormat()(prompts=[None] * 2, completions=[_c("The answer is 20."), _c("answer = 20")],
                          **{k: v[:2] for k, v in bad.items()}) == [0.0, 0.0]  # PoT wants a fenced block
    assert ChoiceMatch()(prompts=[None], completions=[_c("I am not sure")], answer=["B"], kind=["mc"],
                         choices=[["a", "b"]]) == [0.0]


def test_reward_tolerance_is_the_evaluations() -> None:
    """The rewards judge numbers with the numeric_match metric's own defaults (read from its source)."""
    import ast

    from verticalize.evals import tasks
    from verticalize.train.rewards import ABS_TOL, REL_TOL, numeric_close

    src = (Path(tasks.__file__).with_name("metrics") / "numeric_match" / "numeric_match.py").read_text("utf-8")
    fn = next(n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.FunctionDef) and n.name == "_compute")
    defaults = dict(zip([a.arg for a in fn.args.args][-len(fn.args.defaults):],
                        [ast.literal_eval(d) for d in fn.args.defaults]))
    assert defaults == {"rel_tol": REL_TOL, "abs_tol": ABS_TOL}
    assert [numeric_close(p, g) for p, g in [(20.015, 20.0), (20.03, 20.0), (1000.9, 1000.0), (1001.1, 1000.0),
                                             (0.009, 0.0), (0.011, 0.0), ("1,250.5", 1250.5), (float("nan"), 1.0)]] \
        == [True, False, True, False, True, False, True, False]


def test_builtin_reward_names_agree_with_the_schema() -> None:
    import typing

    from verticalize.recipe import REWARDS, GRPOSpec
    from verticalize.train import rewards

    assert tuple(rewards.REWARDS) == REWARDS
    entry = typing.get_args(GRPOSpec.model_fields["rewards"].annotation)[0]
    literal = typing.get_args(typing.get_args(typing.get_args(entry)[0])[0])[0]
    assert typing.get_args(literal) == REWARDS


def test_a_reward_that_breaks_its_contract_is_named() -> None:
    from verticalize.train.grpo import NamedReward

    with pytest.raises(RunError, match=r"reward short returned 1 values for 2 completions"):
        NamedReward(lambda prompts, completions, **kw: [1.0], "short")(prompts=[0, 0], completions=["a", "b"])
    with pytest.raises(RunError, match=r"reward boom failed: ZeroDivisionError"):
        NamedReward(lambda prompts, completions, **kw: 1 / 0, "boom")(prompts=[0], completions=["a"])


# ---- recipes ------------------------------------------------------------------------------------
def test_grpo_recipe_round_trips_with_builtin_and_user_rewards(tmp_path: Path) -> None:
    from tests.user_strategies import DigitShare, answer_length

    a = (Adapter(base="tiny").with_domain("finance").pot()
         .sft(max_steps=2)
         .then("grpo", rewards=["pot_answer", DigitShare(scale=2.0), answer_length], reward_weights=[1.0, 0.5, 0.1],
               num_generations=2, max_completion_length=16, beta=0.01))
    g = a.recipe.stages[1]
    assert [getattr(r, "target", r) for r in g.rewards] == ["pot_answer", "tests.user_strategies:DigitShare",
                                                           "tests.user_strategies:answer_length"]
    assert g.rewards[1].args == {"scale": 2.0}
    p = tmp_path / "r.yaml"
    a.to_yaml(p)
    b = Adapter.from_yaml(p, trust_code=True)
    assert b == a and b.to_yaml() == a.to_yaml()
    assert Adapter(base="tiny").kto(beta=0.2).recipe.train.kind == "kto"
    assert Adapter(base="tiny").grpo(max_steps=3).grpo(num_generations=2).recipe.train.max_steps == 3


def test_grpo_keys_are_validated_with_the_allowed_names(tmp_path: Path) -> None:
    from verticalize.recipe import parse_recipe
    from verticalize.run import validate

    with pytest.raises(RecipeError, match=r"train.rewards\[1\]: 'pot_anwser' is not allowed; did you mean 'pot_answer'\? "
                                          r"Allowed: 'pot_answer', 'numeric_answer', 'choice_match' or 'format'"):
        parse_recipe({"train": {"kind": "grpo", "rewards": ["format", "pot_anwser"]}})
    with pytest.raises(RecipeError, match=r"train\[1\].num_generation: unknown key; did you mean 'num_generations'"):
        parse_recipe({"train": [{"kind": "sft"}, {"kind": "grpo", "num_generation": 2}]})
    with pytest.raises(RecipeError, match=r"must be a multiple of num_generations \(3\)"):
        parse_recipe({"train": {"kind": "grpo", "num_generations": 3}})
    with pytest.raises(RecipeError, match=r"reward_weights has 1 weights for 3 rewards"):
        parse_recipe({"train": {"kind": "grpo", "reward_weights": [1.0]}})
    with pytest.raises(RecipeError, match=r"batch_size must be at least 2"):
        parse_recipe({"train": {"kind": "kto", "batch_size": 1}})
    # validate: a ref that is no Reward, and args that do not fit
    p = tmp_path / "r.yaml"
    p.write_text("domain: finance\ntrain:\n  - {kind: sft}\n  - kind: grpo\n    rewards:\n"
                 "      - {target: 'tests.user_strategies:PercentSource'}\n"
                 "      - {target: 'tests.user_strategies:DigitShare', args: {scale: 1, colour: red}}\n", encoding="utf-8")
    problems = validate(p, trust_code=True)
    assert any("train[1].rewards[0]: tests.user_strategies:PercentSource is not a Reward: it has no __call__()" in x
               for x in problems), problems
    assert any("train[1].rewards[1]: args" in x and "colour" in x for x in problems), problems


def test_grpo_prompts_carry_gold_answers_and_the_pot_system_prompt() -> None:
    from verticalize.data.pipeline import build_training_data
    from verticalize.pot.format import POT_SHORT_SYSTEM

    data = build_training_data(Adapter(base="tiny").with_domain("finance").pot().replay("general").grpo().recipe)
    rep = data.report
    assert rep["kind"] == "grpo" and rep["sources"][0]["source"].endswith("train.jsonl")
    prompts = next(s for s in rep["steps"] if s["step"] == "prompts")
    assert prompts["pot"] > 0 and prompts["with_answer"] > 0
    assert any(s["step"] == "replay" and "not grpo" in s["skipped"] for s in rep["steps"])
    numeric = next(ex for ex in data.train if ex["kind"] == "numeric")
    assert numeric["pot"] and numeric["prompt"][0] == {"role": "system", "content": POT_SHORT_SYSTEM[numeric["lang"]]}
    assert numeric["prompt"][-1]["role"] == "user" and numeric["reference"].startswith("```python")
    mc = next(ex for ex in data.train if ex["kind"] == "mc")
    assert mc["answer"] in "ABCD" and len(mc["choices"]) == 4 and not mc["pot"]


def test_kto_format_reads_thumbs_and_pairs_unpair() -> None:
    from verticalize.data.formats import FORMATS, convert, detect_format
    from verticalize.data.pipeline import build_training_data

    assert detect_format({"prompt": "q", "completion": "a", "label": True}) == "kto"
    assert detect_format({"prompt": "q", "completion": "a", "label": "x"}) == "prompt_completion"
    rows, fmt = convert([{"prompt": "q", "completion": "a", "label": "👎"}, {"prompt": "q", "completion": "b", "label": 1}],
                        "kto", "x.jsonl")
    assert fmt == "kto" and [r["label"] for r in rows] == [False, True]
    assert rows[0]["completion"] == [{"role": "assistant", "content": "a"}]
    with pytest.raises(DataError, match=r"x.jsonl:7: field 'label' must say whether the completion is good: true/false"):
        convert([{"prompt": "q", "completion": "a", "label": "maybe", "_line": 7}], "kto", "x.jsonl")
    assert "kto" in FORMATS
    data = build_training_data(Adapter(base="tiny").with_domain("finance").kto().recipe)
    assert data.report["kind"] == "kto" and data.train[0]["prompt"][0]["role"] == "system"


# ---- real training on tiny ---------------------------------------------------------------------
@pytest.fixture
def short_jsonl(tmp_path: Path) -> Path:
    """Short numeric questions (few prompt tokens: fast generation)."""
    p = tmp_path / "q.jsonl"
    rows = [{"instruction": f"Revenue went from {100 + i} to {120 + 2 * i}. Percent change?",
             "output": f"The answer is {round((20 + i) / (100 + i) * 100, 2)}.", "kind": "numeric", "lang": "en",
             "answer": round((20 + i) / (100 + i) * 100, 2)} for i in range(32)]
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return p


def test_grpo_raises_a_user_reward_on_tiny(tmp_path: Path, short_jsonl: Path) -> None:
    """A user Reward named by import path; the random tiny model learns to answer with digits."""
    run = (Adapter(base="tiny").with_data(str(short_jsonl)).full()
           .grpo(rewards=[{"target": "tests.user_strategies:DigitShare"}], max_steps=16, lr=5e-2, batch_size=8,
                 grad_accum=1, num_generations=4, max_completion_length=12, logging_steps=1, warmup_ratio=0.0,
                 scheduler="constant", save_steps=1000)
           .train(output_dir=tmp_path / "g", quiet=True))
    rewards = [r["reward"] for r in _log(run) if "reward" in r]
    assert len(rewards) == 16 and all("rewards/DigitShare/mean" in r for r in _log(run) if "reward" in r)
    first, last = sum(rewards[:4]) / 4, sum(rewards[-4:]) / 4
    assert last > first + 0.2, rewards  # seeds 42, 1, 2: first ~0.07, last 0.65-1.0
    assert run.metrics["examples"] == 32 and run.metrics["rewards"] == ["DigitShare"]
    assert run.metrics["reward_last"] > run.metrics["reward_first"]  # first / last quarter of the logged steps


def test_sft_then_grpo_continues_the_adapter_with_builtin_rewards(tmp_path: Path) -> None:
    run = (Adapter(base="tiny").with_domain("finance").pot()
           .clean(languages=["en"], tasks=["term_mc", "percent_change", "headline_sentiment"])
           .sft(max_steps=2, batch_size=2, grad_accum=1, max_length=256, logging_steps=1)
           .then("grpo", max_steps=2, batch_size=4, grad_accum=1, num_generations=2, max_completion_length=8,
                 logging_steps=1, beta=0.01, lr=1e-3)
           .train(output_dir=tmp_path / "sg", quiet=True))
    assert [s["kind"] for s in run.manifest["stages"]] == ["sft", "grpo"]
    m = run.manifest["stages"][1]["metrics"]
    assert m["global_step"] == 2 and m["rewards"] == ["pot_answer", "choice_match", "format"]
    assert m["unscored"] > 0  # headline_sentiment (classification): no built-in reward judges it
    rows = [r for r in _log(run) if "reward" in r]
    assert rows and {"rewards/pot_answer/mean", "rewards/choice_match/mean", "rewards/format/mean"} <= set(rows[0])
    assert (run.adapter_path / "adapter_model.safetensors").is_file()
    assert not (run.adapter_path / "ref").exists()  # TRL's frozen reference adapter is not saved


def test_grpo_names_the_data_no_reward_judges(tmp_path: Path, short_jsonl: Path) -> None:
    with pytest.raises(DataError, match=r"none of the 32 prompts is scored by the rewards \['choice_match'\].*"
                                        r"\['numeric'\]"):
        (Adapter(base="tiny").with_data(str(short_jsonl))
         .grpo(rewards=["choice_match"], max_steps=1, batch_size=2, grad_accum=1, num_generations=2)
         .train(output_dir=tmp_path / "n", quiet=True))


def test_kto_on_thumbs_up_and_down_writes_the_adapter(tmp_path: Path) -> None:
    p = tmp_path / "fb.jsonl"
    rows = []
    for i in range(16):
        right = round((20 + i) / (100 + i) * 100, 2)
        rows.append({"prompt": f"Revenue went from {100 + i} to {120 + 2 * i}. Percent change?",
                     "completion": f"The answer is {right if i % 2 else right + 5}.", "label": bool(i % 2)})
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    run = (Adapter(base="tiny").with_data(str(p))
           .kto(max_steps=3, batch_size=4, grad_accum=1, max_length=64, logging_steps=1, lr=1e-3)
           .train(output_dir=tmp_path / "k", quiet=True))
    m = run.metrics
    assert run.manifest["data"]["kind"] == "kto" and m["global_step"] == 3
    assert (m["desirable"], m["undesirable"]) == (8, 8)
    assert (run.adapter_path / "adapter_model.safetensors").is_file()
    assert any("loss" in r for r in _log(run))
