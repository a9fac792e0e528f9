"""Recipe schema: validation errors, YAML round trip, overrides, JSON Schema."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from verticalize import Recipe, RecipeError, load_recipe
from verticalize.recipe import apply_overrides, parse_recipe, recipe_json_schema

DESIGN_EXAMPLE = """\
base: {model: Qwen3-4B, source: hf}
domain: finance
data:
  - {path: data/fin_train.jsonl, format: alpaca}
clean: {dedup: exact, pii: redact, max_length: 2048}
replay: {source: general, ratio: 0.2, by: examples}
method: {kind: qlora, r: 16, alpha: 32, dropout: 0.05, target_modules: auto, bits: 4}
train: {kind: sft, epochs: 1, max_steps: null, lr: 2.0e-4, batch_size: 4, grad_accum: 4,
        max_length: 2048, packing: true, scheduler: cosine, warmup_ratio: 0.03, seed: 42,
        save_steps: 200}
pot: {enabled: true, timeout_s: 2.0}
eval: {suites: [finance, general], when: [before, after]}
output_dir: runs/finance-qwen3-qlora
"""


def test_design_example_parses(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(DESIGN_EXAMPLE)
    r = load_recipe(p)
    assert r.method.kind == "qlora" and r.method.bits == 4
    assert r.replay is not None and r.replay.ratio == 0.2
    assert r.eval.suites == ["finance", "general"]


def test_yaml_round_trip_is_exact(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(DESIGN_EXAMPLE)
    r = load_recipe(p)
    out = tmp_path / "out.yaml"
    r.to_yaml(out)
    r2 = load_recipe(out)
    assert r2 == r
    assert r2.to_yaml() == r.to_yaml()  # text is stable too


def test_frozen() -> None:
    r = Recipe()
    with pytest.raises(Exception):
        r.domain = "finance"  # type: ignore[misc]


def test_misspelt_key_names_path_line_and_closest(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("base: tiny\ntrain:\n  kind: sft\n  lrr: 0.1\n")
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    msg = str(e.value)
    assert "train.lrr" in msg and f"{p}:4" in msg and "did you mean 'lr'" in msg


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(RecipeError) as e:
        parse_recipe({"train": {"lr": -1, "batch_size": "big"}, "method": {"kind": "qlorra"}})
    assert len(e.value.problems) == 3
    text = str(e.value)
    assert "did you mean 'qlora'" in text and "train.lr" in text and "train.batch_size" in text


def test_wrong_range_and_literal() -> None:
    with pytest.raises(RecipeError, match=r"replay\.ratio"):
        parse_recipe({"replay": {"ratio": 1.5}})
    with pytest.raises(RecipeError, match=r"did you mean 'near'"):
        parse_recipe({"clean": {"dedup": "nearr"}})


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("base: tiny\ntrain: {lr: 1\n")
    with pytest.raises(RecipeError, match=r"broken.yaml:\d+:\d+: YAML syntax error"):
        load_recipe(p)


def test_missing_file() -> None:
    with pytest.raises(RecipeError, match="not found"):
        load_recipe("/nonexistent/recipe.yaml")


def test_overrides_parse_values() -> None:
    data = apply_overrides({"base": "tiny"}, ["train.lr=1e-4", "base.source=offline", "eval.suites=[finance]"])
    r = parse_recipe(data)
    assert r.train.lr == 1e-4 and r.base.source == "offline" and r.eval.suites == ["finance"]
    with pytest.raises(RecipeError, match="expected key.path=value"):
        apply_overrides({}, ["train.lr"])


def test_shorthands() -> None:
    r = parse_recipe({"base": "smollm2-135m", "method": "full", "data": "x.jsonl", "replay": "general"})
    assert r.base.model == "smollm2-135m" and r.method.kind == "full"
    assert r.data[0].path == "x.jsonl" and r.replay is not None and r.replay.source == "general"


def test_json_schema_lists_keys() -> None:
    s = recipe_json_schema()
    assert set(s["properties"]) >= {"base", "domain", "data", "clean", "replay", "method", "train", "pot", "eval"}
    dumped = yaml.safe_dump(s)
    assert "qlora" in dumped and "discriminator" in dumped or "oneOf" in dumped
