"""Adapter: immutability, fluent derivation, YAML round trip, name errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from verticalize import Adapter, RecipeError, UnknownNameError


def test_builder_methods_return_new_adapters() -> None:
    a = Adapter(base="tiny")
    b = a.with_domain("finance")
    c = b.replay("general", ratio=0.2).qlora(bits=4, r=8).sft(lr=1e-4, max_steps=10).pot().evaluate_with("finance")
    assert a.recipe.domain is None and b.recipe.domain == "finance"
    assert b.recipe.replay is None and b.recipe.method.kind == "lora"
    assert c.recipe.method.kind == "qlora" and c.recipe.method.r == 8
    assert c.recipe.train.lr == 1e-4 and c.recipe.pot.enabled and c.recipe.eval.suites == ["finance"]
    with pytest.raises(AttributeError):
        a.foo = 1  # type: ignore[attr-defined]


def test_sft_keeps_earlier_keys() -> None:
    a = Adapter(base="tiny").sft(lr=1e-4).sft(max_steps=3)
    assert a.recipe.train.lr == 1e-4 and a.recipe.train.max_steps == 3


def test_yaml_round_trip(tmp_path: Path) -> None:
    a = (Adapter(base="Qwen3-4B").with_domain("finance").with_data("extra.jsonl", format="alpaca")
         .clean(dedup="near", pii="redact").replay("general", ratio=0.2).qlora(bits=4).sft(epochs=2)
         .pot(timeout_s=3.0).evaluate_with("finance", "general"))
    p = tmp_path / "r.yaml"
    a.to_yaml(p)
    assert Adapter.from_yaml(p) == a
    assert hash(Adapter.from_yaml(p)) == hash(a)


def test_bad_keyword_is_a_recipe_error() -> None:
    with pytest.raises(RecipeError, match="did you mean 'lr'"):
        Adapter(base="tiny").sft(lrr=1e-4)
    with pytest.raises(RecipeError, match="bits"):
        Adapter(base="tiny").qlora(bits=3)


def test_unknown_domain_lists_allowed_and_closest() -> None:
    with pytest.raises(UnknownNameError) as e:
        Adapter(base="tiny").with_domain("finanse")
    assert "did you mean 'finance'" in str(e.value) and "medical" in str(e.value)


def test_set_dotted_paths() -> None:
    a = Adapter(base="tiny").set(**{"train.lr": 3e-4, "clean.pii": "redact"})
    assert a.recipe.train.lr == 3e-4 and a.recipe.clean.pii == "redact"


def test_repr_and_markdown() -> None:
    a = Adapter(base="tiny").with_domain("finance").replay("general", 0.1)
    assert "finance" in repr(a) and "general@0.1" in repr(a)
    assert "```yaml" in a._repr_markdown_()
