"""Benchmark presets: each fixture (in its benchmark's published schema) goes through the real load path."""

from __future__ import annotations

import csv
import doctest
import json
import re
from pathlib import Path

import pytest

from verticalize.data import benchmarks
from verticalize.data.benchmarks import PRESETS, apply_preset
from verticalize.data.pipeline import load_source
from verticalize.errors import DataError, UnknownNameError
from verticalize.recipe import DataSpec

FIX = Path(__file__).parent / "fixtures" / "benchmarks"


def load(path: Path, preset: str, **kw):
    return load_source(DataSpec(path=str(path), preset=preset, **kw))


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def rows_of(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIX / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def parquet(path: Path, rows: list[dict], features=None) -> Path:
    from datasets import Dataset

    Dataset.from_list(rows, features=features).to_parquet(str(path))
    return path


def user(ex: dict) -> str:
    return ex["messages"][0]["content"]


def reply(ex: dict) -> str:
    return ex["messages"][-1]["content"]


def check_mc(ex: dict, letter: str, choices: list[str], prefix: str = "") -> None:
    assert ex["kind"] == "mc" and ex["answer"] == letter and ex["choices"] == choices
    assert reply(ex) == f"{prefix}{letter}. {choices['ABCDE'.index(letter)]}"
    lines = user(ex).splitlines()[-len(choices):]
    assert lines == [f"{'ABCDE'[i]}. {c}" for i, c in enumerate(choices)]


# ------------------------------------------------------------------------------------------ finance


def test_finqa_official_json():
    exs, info = load(FIX / "finqa.json", "finqa")
    assert info["converted"] == 4 and info["skipped"] == 0
    pct, diff, yes, no_answer = exs
    assert pct["kind"] == "numeric" and pct["task"] == "finqa" and pct["lang"] == "en"
    assert pct["answer"] == pytest.approx(1.639)  # exe_ans 0.01639, human answer "1.6%" -> percent units
    assert reply(pct) == "The answer is 1.639."
    assert user(pct).startswith("what was the percentage change in net revenue")
    assert "net revenue | $ 5829 | $ 5735" in user(pct) and "fuel recovery revenues" in user(pct)
    assert diff["answer"] == 94.0 and reply(diff) == "The answer is 94."
    assert yes["kind"] == "generation" and reply(yes) == "yes" and "answer" not in yes
    assert no_answer["answer"] == 250.0 and no_answer["id"] == "BETA/2016/page_77.pdf-1"
    raw = json.loads((FIX / "finqa.json").read_text())
    recs = apply_preset("finqa", [{**r, "_line": i + 1} for i, r in enumerate(raw)], "finqa.json")
    assert recs[0]["program_dsl"] == "subtract(5829, 5735), divide(#0, 5735)" and recs[0]["_line"] == 1


def test_finqa_clips_long_context():
    raw = json.loads((FIX / "finqa.json").read_text())[0]
    raw = {**raw, "pre_text": ["word " * 800], "_line": 1}
    rec = apply_preset("finqa", [raw], "x.json")[0]
    assert len(rec["input"]) < 2 * benchmarks.CONTEXT_CHARS + 200 and "net revenue | $ 5829" in rec["input"]


def test_finqa_hf_flat_layout_and_mirror_columns(tmp_path):
    raw = json.loads((FIX / "finqa.json").read_text())[:2]
    flat = [{"id": r["id"], "pre_text": r["pre_text"], "post_text": r["post_text"], "table": r["table"],
             "question": r["qa"]["question"], "answer": r["qa"]["answer"], "final_result": str(r["qa"]["exe_ans"]),
             "program_re": r["qa"]["program_re"], "gold_inds": list(r["qa"]["gold_inds"].values())} for r in raw]
    exs, _ = load(parquet(tmp_path / "ibm_finqa.parquet", flat), "finqa")  # HF ibm/finqa
    assert [e["answer"] for e in exs] == [pytest.approx(1.639), 94.0]
    # dreamerdeo/finqa names the answer column "answers": map it with columns
    mirror = [{"id": f["id"], "post_text": f["post_text"], "pre_text": f["pre_text"], "question": f["question"],
               "answers": f["answer"], "table": f["table"]} for f in flat]
    path = parquet(tmp_path / "dreamerdeo.parquet", mirror)
    with pytest.raises(DataError, match=r"dreamerdeo\.parquet:1: finqa: missing field 'answer'"):
        load(path, "finqa")
    exs, _ = load(path, "finqa", columns={"answers": "answer"})
    assert [e["answer"] for e in exs] == [1.6, 94.0] and exs[0]["kind"] == "numeric"


def test_fpb_jsonl_and_hf_parquet(tmp_path):
    from datasets import ClassLabel, Features, Value

    rows = rows_of("fpb.jsonl")
    feats = Features({"sentence": Value("string"), "label": ClassLabel(names=["negative", "neutral", "positive"])})
    for path in (FIX / "fpb.jsonl", parquet(tmp_path / "fpb.parquet", rows, feats)):
        exs, _ = load(path, "fpb")
        assert [e["answer"] for e in exs] == ["negative", "neutral", "positive", "neutral"]
        assert all(e["kind"] == "classification" and e["labels"] == ["negative", "neutral", "positive"] for e in exs)
        assert all(reply(e) == e["answer"] for e in exs)
        assert rows[0]["sentence"] in user(exs[0]) and exs[0]["id"] == "fpb-1"


def test_fiqa_sa_csv_thresholds():
    exs, _ = load(FIX / "fiqa_sa.csv", "fiqa_sa")
    # scores -0.374, 0.43, 0.05, 0.1 (the boundary counts as positive, as in the FinGPT benchmark)
    assert [e["answer"] for e in exs] == ["negative", "positive", "neutral", "positive"]
    assert "toward Tesco" in user(exs[0]) and "headline" in user(exs[0]) and "post" in user(exs[1])
    assert exs[0]["id"] == "1048" and reply(exs[0]) == "negative"
    rec = apply_preset("fiqa_sa", [{"sentence": "Shares flat", "label": "Neutral", "_line": 1}], "x.jsonl")[0]
    assert rec["answer"] == "neutral"


# ------------------------------------------------------------------------------------------ medical


def test_medqa_gbaker_jsonl():
    exs, info = load(FIX / "medqa.jsonl", "medqa")
    assert info["converted"] == 3
    check_mc(exs[0], "D", ["Ampicillin", "Ceftriaxone", "Doxycycline", "Nitrofurantoin"])
    check_mc(exs[1], "B", ["Hemophilia A", "von Willebrand disease", "Immune thrombocytopenia", "Vitamin K deficiency"])
    check_mc(exs[2], "A", ["Xanthine oxidase", "Adenosine deaminase", "HGPRT", "Urate oxidase"])
    assert user(exs[0]).startswith("A 23-year-old woman") and exs[0]["lang"] == "en"


def test_medqa_original_five_options_and_chinese(tmp_path):
    rows = [{"question": "Which drug is first line?", "answer": "E5", "meta_info": "step1", "answer_idx": "E",
             "options": {"A": "A1", "B": "B2", "C": "C3", "D": "D4", "E": "E5"}},
            {"question": "患者最可能的诊断是", "answer": "肺炎", "meta_info": "第一部分", "answer_idx": "B",
             "options": {"A": "支气管炎", "B": "肺炎", "C": "肺结核", "D": "肺癌", "E": "气胸"}}]
    exs, _ = load(jsonl(tmp_path / "US_test.jsonl", rows), "medqa")
    check_mc(exs[0], "E", ["A1", "B2", "C3", "D4", "E5"])
    check_mc(exs[1], "B", ["支气管炎", "肺炎", "肺结核", "肺癌", "气胸"], prefix="答案：")
    assert exs[1]["lang"] == "zh"


def test_pubmedqa_jsonl_and_parquet(tmp_path):
    for path in (FIX / "pubmedqa.jsonl", parquet(tmp_path / "pqa_labeled.parquet", rows_of("pubmedqa.jsonl"))):
        exs, _ = load(path, "pubmedqa")
        assert [e["answer"] for e in exs] == ["yes", "no", "maybe"]
        assert all(e["labels"] == ["yes", "no", "maybe"] and reply(e) == e["answer"] for e in exs)
        assert "BACKGROUND: Atrial fibrillation is common" in user(exs[0])
        assert user(exs[0]).startswith("Do preoperative statins") and exs[0]["id"] == "21645374"


def test_medmcqa_hf_zero_based():
    exs, _ = load(FIX / "medmcqa.jsonl", "medmcqa")
    check_mc(exs[0], "C", ["Hyperplasia", "Hyperophy", "Atrophy", "Dyplasia"])
    assert [e["answer"] for e in exs] == ["C", "A", "D", "B"]
    assert exs[0]["id"] == "e9ad821a-c438-4965-9f77-760819dfa155"


def test_medmcqa_original_release_one_based(tmp_path):
    rows = [{**r, "cop": r["cop"] + 1} for r in rows_of("medmcqa.jsonl")]  # release json: cop 1-4
    exs, _ = load(jsonl(tmp_path / "dev.jsonl", rows), "medmcqa")
    assert [e["answer"] for e in exs] == ["C", "A", "D", "B"]
    mixed = rows_of("medmcqa.jsonl") + [rows[2]]  # a 0 and a 4: cannot tell
    with pytest.raises(DataError, match="medmcqa: field 'cop' holds both 0 and 4"):
        load(jsonl(tmp_path / "mixed.jsonl", mixed), "medmcqa")


def test_medmcqa_test_split_has_no_answers(tmp_path):
    rows = rows_of("medmcqa.jsonl")
    rows[1]["cop"] = -1
    path = jsonl(tmp_path / "test.jsonl", rows)
    with pytest.raises(DataError, match=r"test\.jsonl:2: medmcqa: field 'cop' is -1.*test split"):
        load(path, "medmcqa")


def test_cmexam_csv_multi_answer_row():
    exs, info = load(FIX / "cmexam.csv", "cmexam")  # the multi-answer row (ABE) is kind mc_multi (issue 16)
    assert info["skipped"] == 0 and info["converted"] == 4
    check_mc(exs[0], "A", ["青霉素类", "氨基糖苷类", "四环素类", "磺胺类", "喹诺酮类"], prefix="答案：")
    assert [e["answer"] for e in exs] == ["A", "B", "C", "ABE"] and exs[3]["kind"] == "mc_multi"
    assert all(e["lang"] == "zh" and e["task"] == "cmexam" for e in exs)
    assert reply(exs[1]) == "答案：B. 60～100次/分"


def test_cmexam_options_with_and_without_line_breaks():
    for opts in ("A 甲\nB 乙\nC 丙", "A 甲B 乙C 丙", "A. 甲\nB. 乙\nC. 丙"):
        rec = benchmarks.cmexam({"Question": "问", "Options": opts, "Answer": "C", "_line": 2})
        assert rec["choices"] == ["甲", "乙", "丙"] and rec["output"] == "答案：C. 丙"


# -------------------------------------------------------------------------------------------- legal


def test_casehold_csv():
    exs, _ = load(FIX / "casehold.csv", "casehold")
    assert [e["answer"] for e in exs] == ["C", "A", "E"]
    ex = exs[0]
    assert ex["kind"] == "mc" and len(ex["choices"]) == 5 and "<HOLDING>" in user(ex) and ex["id"] == "0"
    assert reply(ex) == "C. holding that firebombs are destructive devices whose manufacture is inherently dangerous"


def test_legalbench_tsv_via_hub_parquet(tmp_path):
    with (FIX / "legalbench_abercrombie.tsv").open(newline="") as fh:
        rows = [{**r, "index": int(r["index"])} for r in csv.DictReader(fh, delimiter="\t")]
    exs, _ = load(parquet(tmp_path / "abercrombie-test.parquet", rows), "legalbench")
    labels = ["arbitrary", "descriptive", "fanciful", "generic", "suggestive"]
    assert [e["answer"] for e in exs] == [r["answer"] for r in rows]
    assert all(e["kind"] == "classification" and e["labels"] == labels and reply(e) == e["answer"] for e in exs)
    assert user(exs[0]).startswith('The mark "Salt"') and "Answer with one of: arbitrary, descriptive" in user(exs[0])
    assert exs[3]["id"] == "3"


def test_legalbench_long_answers_are_generation(tmp_path):
    rows = [{"index": i, "text": f"Question {i} about the rule against perpetuities?",
             "answer": f"An interest must vest, if at all, within twenty-one years after some life in being ({i})."}
            for i in range(3)]
    exs, _ = load(jsonl(tmp_path / "rule_qa.jsonl", rows), "legalbench")
    assert all(e["kind"] == "generation" and "answer" not in e for e in exs)
    assert reply(exs[1]) == rows[1]["answer"]


def test_legalbench_multi_input_columns(tmp_path):
    q = "Is rent paid monthly?"
    rows = [{"index": 0, "contract": "The tenant pays rent monthly.", "question": q, "answer": "Yes"},
            {"index": 1, "contract": "The tenant pays rent yearly.", "question": q, "answer": "No"}]
    exs, _ = load(jsonl(tmp_path / "consumer_contracts_qa.jsonl", rows), "legalbench")
    assert exs[0]["labels"] == ["No", "Yes"] and exs[0]["answer"] == "Yes"
    assert "Contract: The tenant pays rent monthly." in user(exs[0]) and "Question: Is rent paid" in user(exs[0])


# ----------------------------------------------------------------------------------------- errors


def test_unknown_preset_names_closest():
    with pytest.raises(UnknownNameError, match="unknown benchmark preset 'medqaa'; did you mean 'medqa'"):
        load(FIX / "medqa.jsonl", "medqaa")


def test_broken_row_names_file_line_and_field(tmp_path):
    rows = rows_of("medqa.jsonl")
    rows[1] = {**rows[1], "answer_idx": "F", "answer": "not an option"}
    path = jsonl(tmp_path / "medqa_bad.jsonl", rows)
    with pytest.raises(DataError, match=re.escape(f"{path}:2: medqa: field 'answer_idx' is 'F'; expected one of A")):
        load(path, "medqa")
    exs, info = load(path, "medqa", on_error="skip")
    assert info["skipped"] == 1 and info["converted"] == 2 and [e["answer"] for e in exs] == ["D", "A"]


@pytest.mark.parametrize("preset,fixture,line,field,bad", [
    ("fpb", "fpb.jsonl", 3, "label", 7),
    ("pubmedqa", "pubmedqa.jsonl", 1, "final_decision", "perhaps"),
    ("medmcqa", "medmcqa.jsonl", 4, "question", None),
])
def test_broken_field_per_preset(tmp_path, preset, fixture, line, field, bad):
    rows = rows_of(fixture)
    rows[line - 1][field] = bad
    path = jsonl(tmp_path / fixture, rows)
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}:{line}: {preset}: .*'{field}'"):
        load(path, preset)
    _, info = load(path, preset, on_error="skip")
    assert info["skipped"] == 1 and info["converted"] == len(rows) - 1


def test_fiqa_score_out_of_range(tmp_path):
    with (FIX / "fiqa_sa.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[2]["score"] = "2.5"
    path = tmp_path / "fiqa.csv"
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    msg = r"fiqa\.csv:4: fiqa_sa: field 'score' is '2\.5'; expected a number in \[-1, 1\]"
    with pytest.raises(DataError, match=msg):
        load(path, "fiqa_sa")


def test_presets_registry_and_doctests():
    assert set(PRESETS) == {"finqa", "fpb", "fiqa_sa", "medqa", "pubmedqa", "medmcqa", "cmexam", "casehold",
                            "legalbench", "cmmlu", "ceval", "lawbench", "mmlu"}
    assert doctest.testmod(benchmarks).failed == 0
