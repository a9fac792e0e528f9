"""Benchmark presets on their published layouts (issue 16): hand-written samples of each original release
(tests/data/fixtures/benchmarks/original/), with the quirks of real copies -- ISO-8859-1 text, stringified
Python lists, PMID-keyed objects with a separate split file, multi-line quoted TSV fields, options joined by
a literal backslash-n, multi-answer rows, damaged lines -- through the public load path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from verticalize.data import benchmarks, sources
from verticalize.data.benchmarks import LAYOUTS, PRESETS, load_benchmark
from verticalize.data.pipeline import load_source
from verticalize.errors import DataError, MissingDependencyError
from verticalize.recipe import DataSpec

ORIG = Path(__file__).parent / "fixtures" / "benchmarks" / "original"


def load(path: Path, preset: str | None = None, **kw):
    return load_source(DataSpec(path=str(path), preset=preset, **kw))


def user(ex: dict) -> str:
    return ex["messages"][0]["content"]


def reply(ex: dict) -> str:
    return ex["messages"][-1]["content"]


def accounted(info: dict, records: int) -> None:
    """Every record of the file is converted, skipped (with its reason) or filtered (with a note)."""
    assert info["converted"] + info["skipped"] + info.get("filtered", 0) == records
    assert len(info.get("skipped_examples", [])) == info["skipped"]


# ------------------------------------------------------------------------------ Financial PhraseBank


FPB_GOLD = ["neutral", "positive", "negative", "neutral", "negative", "positive"]


def test_fpb_original_txt_is_latin1_sentence_at_label():
    exs, info = load(ORIG / "Sentences_50Agree.txt", "fpb")
    assert info["layout"] == "original" and info["encoding"] == "iso8859-1"
    assert [e["answer"] for e in exs] == FPB_GOLD and info["converted"] == 6
    assert user(exs[2]).endswith("Metsä Board 's net sales decreased by 12 % to EUR 1,960 mn .")
    assert "\r" not in user(exs[0]) and "@" not in user(exs[0])
    # the last '@' splits: a sentence holding '@' keeps it
    assert "the @ sign in the order system" in user(exs[3])
    assert exs[0]["id"] == "Sentences_50Agree-1" and exs[0]["subset"] == "Sentences_50Agree"
    assert all(e["kind"] == "classification" and e["task"] == "fpb" for e in exs)


def test_fpb_utf8_copy_and_damaged_copy(tmp_path):
    raw = (ORIG / "Sentences_50Agree.txt").read_bytes()
    utf8 = tmp_path / "Sentences_50Agree.txt"
    utf8.write_bytes(raw.decode("iso-8859-1").encode("utf-8"))  # a re-encoded copy
    exs, info = load(utf8, "fpb")
    assert info["encoding"] == "utf-8" and "Metsä Board" in user(exs[2]) and [e["answer"] for e in exs] == FPB_GOLD

    lines = utf8.read_bytes().split(b"\r\n")
    lines[1] = lines[1][:40] + b"\xff\xfe" + lines[1][40:]  # line 2: bytes no encoding explains
    lines[4] = lines[4].replace(b"@negative", b"@negatve")  # line 5: a mangled label
    lines[5] = lines[5].replace(b"@positive", b"")  # line 6: the label was cut off
    damaged = tmp_path / "damaged" / "Sentences_50Agree.txt"
    damaged.parent.mkdir()
    damaged.write_bytes(b"\r\n".join(lines))
    with pytest.raises(DataError, match=r"Sentences_50Agree\.txt:2: not UTF-8 text: byte 0xff at byte offset \d+"):
        load(damaged, "fpb")
    exs, info = load(damaged, "fpb", on_error="skip")
    accounted(info, 6)
    assert info["skipped"] == 3 and [e["answer"] for e in exs] == ["neutral", "negative", "neutral"]
    problems = info["skipped_examples"]
    assert re.search(r"Sentences_50Agree\.txt:2: not UTF-8 text: byte 0xff at byte offset \d+", problems[0])
    assert "Sentences_50Agree.txt:5: fpb: label 'negatve' after the last '@'" in problems[1]
    assert "Sentences_50Agree.txt:6: fpb: no '@label' at the end of the line" in problems[2]


def test_fpb_declared_encoding_and_hub_layout_unchanged(tmp_path):
    exs, info = load(ORIG / "Sentences_50Agree.txt", "fpb", encoding="latin-1", layout="original")
    assert info["encoding"] == "iso8859-1" and len(exs) == 6
    # a latin-1 file without a preset that knows it: the error names file, line, byte offset and encoding tried
    p = tmp_path / "sentences.txt"
    p.write_bytes((ORIG / "Sentences_50Agree.txt").read_bytes())
    with pytest.raises(DataError, match=r"sentences\.txt:3: not UTF-8 text: byte 0xe4 at byte offset \d+ cannot be "
                       r"decoded \(tried utf-8: .*\); set encoding:"):
        load(p, format="text")
    exs, info = load(p, format="text", encoding="iso-8859-1")
    assert len(exs) == 6 and "Metsä" in exs[2]["text"]


# ------------------------------------------------------------------------------------------ FiQA


def test_fiqa_original_json_one_example_per_target():
    exs, info = load(ORIG / "task1_headline_ABSA_train.json", "fiqa_sa")
    assert info["layout"] == "original" and info["read"] == 3 and info["converted"] == 4
    assert [(e["id"], e["answer"]) for e in exs] == [("1", "negative"), ("7", "negative"), ("11-0", "positive"),
                                                     ("11-1", "neutral")]
    assert "toward Sainsbury's in this financial headline" in user(exs[3])
    assert user(exs[3]).endswith("Tesco and Sainsbury's shares climb as UK grocers rally")


def test_fiqa_bad_info_entry_is_reported_by_key(tmp_path):
    data = json.loads((ORIG / "task1_headline_ABSA_train.json").read_text())
    data["11"]["info"][1]["aspects"] = "['Stock/Price Action'"  # a truncated stringified list
    data["7"]["info"][0]["sentiment_score"] = "n/a"
    data["1"]["info"][0]["aspects"] = "__import__('os').system('echo pwned')"  # literal_eval never runs code
    p = tmp_path / "task1_headline_ABSA_train.json"
    p.write_text(json.dumps(data))
    exs, info = load(p, "fiqa_sa", on_error="skip")
    assert [e["id"] for e in exs] == ["11-0"] and info["skipped"] == 3
    probs = info["skipped_examples"]
    assert f"{p}[1].info[0]: fiqa_sa: field 'aspects'" in probs[0]
    assert f"{p}[7].info[0]: fiqa_sa: field 'sentiment_score' is 'n/a'" in probs[1]
    assert f"{p}[11].info[1]: fiqa_sa: field 'aspects'" in probs[2]


def test_fiqa_nested_score_reachable_with_columns(tmp_path):
    rows = [{"sentence": "Shares of $TSLA soar", "info": [{"target": "TSLA", "sentiment_score": "0.61"}]}]
    p = tmp_path / "fiqa_flat.jsonl"
    p.write_text(json.dumps(rows[0]) + "\n")
    exs, info = load(p, "fiqa_sa", layout="hub",
                     columns={"info[0].sentiment_score": "score", "info.0.target": "target"})
    assert info["layout"] == "hub" and exs[0]["answer"] == "positive" and "toward TSLA" in user(exs[0])


# -------------------------------------------------------------------------------------- PubMedQA


def test_pubmedqa_original_keyed_by_pmid_with_split_file():
    exs, info = load(ORIG / "ori_pqal.json", "pubmedqa")
    assert info["layout"] == "original" and [e["id"] for e in exs] == ["21645374", "16418930", "9488747", "17208539"]
    assert [e["answer"] for e in exs] == ["yes", "no", "maybe", "no"]
    assert user(exs[0]).startswith("Do mitochondria play a role") and "RESULTS: The following paper" in user(exs[0])
    assert "\u2029" in user(exs[0])  # a paragraph separator inside a context is text
    exs, info = load(ORIG / "ori_pqal.json", "pubmedqa", split_file=str(ORIG / "test_ground_truth.json"))
    assert [e["id"] for e in exs] == ["16418930", "9488747"] and [e["answer"] for e in exs] == ["no", "maybe"]
    assert info["filtered"] == 2 and "kept the 2 records it names, left out 2" in info["notes"][0]
    accounted(info, 4)


def test_pubmedqa_split_file_mismatches_are_reported(tmp_path):
    split = tmp_path / "test_ground_truth.json"
    split.write_text(json.dumps({"16418930": "yes", "9488747": "maybe", "99999999": "no"}))
    with pytest.raises(DataError, match=r"test_ground_truth\.json\[99999999\]: id not found in .*ori_pqal\.json"):
        load(ORIG / "ori_pqal.json", "pubmedqa", split_file=str(split))
    exs, info = load(ORIG / "ori_pqal.json", "pubmedqa", split_file=str(split), on_error="skip")
    assert [e["id"] for e in exs] == ["9488747"] and info["skipped"] == 2
    assert "answer 'no' differs from the label 'yes'" in info["skipped_examples"][1]
    other = tmp_path / "other_split.json"
    other.write_text(json.dumps(["1", "2"]))
    with pytest.raises(DataError, match=r"none of its 2 ids is in .*ori_pqal\.json"):
        load(ORIG / "ori_pqal.json", "pubmedqa", split_file=str(other))


def test_jsonl_line_with_paragraph_separator_is_one_record(tmp_path):
    row = {"pubid": 1, "question": "Q?", "context": {"contexts": ["a\u2029b\u2028c\x85d"], "labels": ["X"]},
           "final_decision": "yes"}
    p = tmp_path / "pqa.jsonl"
    p.write_text(json.dumps(row, ensure_ascii=False) + "\n" + json.dumps({**row, "pubid": 2}, ensure_ascii=False)
                 + "\n", encoding="utf-8")
    exs, info = load(p, "pubmedqa")
    assert info["converted"] == 2 and info["skipped"] == 0 and "a\u2029b\u2028c\x85d" in user(exs[0])


# ------------------------------------------------------------------------------------- MedMCQA


def test_medmcqa_in_medqa_style(tmp_path):
    rows = [{"id": "m1", "question": "Drug of choice for absence seizures?", "answer_idx": "C",
             "options": {"A": "Phenytoin", "B": "Carbamazepine", "C": "Ethosuximide", "D": "Phenobarbitone"}}]
    p = tmp_path / "medmcqa_medqa_style.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    exs, info = load(p, "medmcqa")
    assert info["layout"] == "medqa" and exs[0]["task"] == "medmcqa" and exs[0]["answer"] == "C"
    assert reply(exs[0]) == "C. Ethosuximide"


def test_medmcqa_original_json_lines_named_json(tmp_path):
    rows = [{"id": f"q{i}", "question": f"Q{i}?", "opa": "a", "opb": "b", "opc": "c", "opd": "d", "cop": c}
            for i, c in enumerate([1, 4, 2])]
    p = tmp_path / "dev.json"  # the release's .json files are JSON Lines
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    exs, info = load(p, "medmcqa")
    assert info["layout"] == "original" and [e["answer"] for e in exs] == ["A", "D", "B"]
    exs, info = load(p, "medmcqa", layout="hub", on_error="skip")  # named: no guessing, cop 4 is out of range
    assert info["skipped"] == 1 and "field 'cop' is 4; expected 0-3" in info["skipped_examples"][0]


# -------------------------------------------------------------------------------------- CMExam


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


CM_HEAD = ["Question", "Options", "Answer", "Explanation"]


def test_cmexam_multi_answer_rows_are_mc_multi(tmp_path):
    from tests.data.test_benchmarks import FIX

    exs, info = load(FIX / "cmexam.csv", "cmexam")
    accounted(info, 4)
    assert [e["kind"] for e in exs] == ["mc", "mc", "mc", "mc_multi"]
    multi = exs[3]
    assert multi["answer"] == "ABE" and multi["choices"] == ["高血糖", "骨质疏松", "低血压", "低血钠", "皮肤萎缩"]
    assert reply(multi) == "答案：ABE" and "多选题" in user(multi) and "E. 皮肤萎缩" in user(multi)


def test_cmexam_literal_backslash_n_and_missing_option(tmp_path):
    p = write_csv(tmp_path / "test.csv", CM_HEAD, [
        ["首选药物是", r"A 青霉素\nB 红霉素\nC 头孢\nD 链霉素", "C", ""],
        ["下列哪项正确", r"A 甲\nB 乙\nD 丁\nE 戊", "B", ""],  # option C is missing
        ["下列哪项正确", "A 甲B 乙D 丁", "A", ""],  # the same, with the line breaks lost
        ["哪些属于", r"A 甲\r\nB 乙\r\nC 丙", "A,C", ""],
    ])
    with pytest.raises(DataError, match=r"test\.csv:3: cmexam: field 'Options' lists A, B, D, E: option C is missing"):
        load(p, "cmexam")
    exs, info = load(p, "cmexam", on_error="skip")
    accounted(info, 4)
    assert exs[0]["choices"] == ["青霉素", "红霉素", "头孢", "链霉素"] and reply(exs[0]) == "答案：C. 头孢"
    assert not any("\\n" in c for e in exs for c in e["choices"])
    assert exs[1]["kind"] == "mc_multi" and exs[1]["answer"] == "AC"
    assert "test.csv:4: cmexam: field 'Options' lists options A, B and then D: option C is missing" in \
        info["skipped_examples"][1]


def test_cmexam_answer_beyond_options_is_reported(tmp_path):
    p = write_csv(tmp_path / "val.csv", CM_HEAD, [["问", "A 甲\nB 乙", "BC", ""]])
    with pytest.raises(DataError, match=r"val\.csv:2: cmexam: field 'Answer' is 'BC' but the options are A-B"):
        load(p, "cmexam")


def test_cmexam_xlsx(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(CM_HEAD + ["Difficulty level"])
    ws.append(["治疗社区获得性肺炎首选的抗生素是", "A 青霉素类\nB 氨基糖苷类\nC 四环素类", "A", "首选青霉素类。", 2])
    ws.append([None, None, None, None, None])  # an empty row is no record
    ws.append(["属于糖皮质激素不良反应的是", "A 高血糖\nB 骨质疏松\nC 低血压", "AB", None, 3])
    ws.append(["缺一个选项", "A 甲\nC 丙", "A", None, 1])
    ws.append(["多了一个单元格", "A 甲\nB 乙", "A", None, 1, "stray"])
    wb.create_sheet("notes").append(["Question"])
    p = tmp_path / "cmexam_test.xlsx"
    wb.save(p)
    exs, info = load(p, "cmexam", on_error="skip")
    assert info["layout"] == "original" and "encoding" not in info
    assert [(e["kind"], e["answer"]) for e in exs] == [("mc", "A"), ("mc_multi", "AB")]
    assert sorted(info["skipped_examples"]) == [  # the reader's problems come first, then the preset's
        f"{p}:5: cmexam: field 'Options' lists A, C: option B is missing or out of order",
        f"{p}:6: row has 6 fields, header has 5"]
    with pytest.raises(DataError, match="no sheet 'Sheet9'; sheets: Sheet, notes"):
        load(p, "cmexam", config="Sheet9")
    with pytest.raises(DataError, match="encoding: 'gb18030' applies to text files"):
        load(p, "cmexam", encoding="gb18030")


def test_xlsx_without_openpyxl_names_the_pip_command(tmp_path, monkeypatch):
    import importlib.util

    p = tmp_path / "x.xlsx"
    p.write_bytes(b"PK\x03\x04")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "openpyxl" else real(n, *a))
    with pytest.raises(MissingDependencyError, match=r"pip install 'verticalize\[xlsx\]'"):
        load(p, "cmexam")
    assert "pip install 'verticalize[xlsx]'" in sources.check_file(p)[0]


# ------------------------------------------------------------------------------------ LegalBench


def test_legalbench_original_tsv_keeps_answer_parts_out_of_prompt():
    exs, info = load(ORIG / "diversity_1" / "test.tsv", "legalbench")
    assert info["layout"] == "original" and [e["answer"] for e in exs] == ["Yes", "No", "No"]
    assert all(e["kind"] == "classification" and e["labels"] == ["No", "Yes"] for e in exs)
    assert exs[0]["subset"] == "diversity_1" and exs[1]["id"] == "1"
    for ex in exs:
        prompt = user(ex)
        assert "Aic" not in prompt and "Parties are diverse" not in prompt
        assert prompt.startswith(("James", "Amy", "Ben")) and "Answer with one of: No, Yes." in prompt
    assert "Tom is a citizen of Ohio.\nAmy sues Tom" in user(exs[1])  # a quoted multi-line field
    assert 'Ben sues Kate for "fraud"' in user(exs[2])


# ------------------------------------------------------------------------------ Chinese exam suites


def test_cmmlu_original_csv_unnamed_first_column():
    exs, info = load(ORIG / "agronomy.csv", "cmmlu")
    assert info["layout"] == "original" and [e["answer"] for e in exs] == ["B", "C", "A"]
    assert exs[0]["id"] == "agronomy-0" and exs[0]["subset"] == "agronomy" and exs[0]["lang"] == "zh"
    assert exs[2]["choices"] == ["5.5", "6.5", "7.5", "8.5"] and reply(exs[0]) == "答案：B. 成熟"


def test_cmmlu_gbk_export_needs_declared_encoding(tmp_path):
    p = tmp_path / "agronomy.csv"
    p.write_bytes((ORIG / "agronomy.csv").read_text(encoding="utf-8").encode("gb18030"))
    with pytest.raises(DataError, match=r"agronomy\.csv:2: not UTF-8 text: byte 0x\w\w at byte offset \d+ .*"
                       r"tried utf-8.*set encoding:"):
        load(p, "cmmlu")
    exs, info = load(p, "cmmlu", encoding="gb18030")
    assert info["encoding"] == "gb18030" and reply(exs[0]) == "答案：B. 成熟"


def test_ceval_val_and_unlabeled_test():
    exs, info = load(ORIG / "law_val.csv", "ceval")
    assert info["layout"] == "original" and info["encoding"] == "utf-8"
    assert [e["answer"] for e in exs] == ["B", "C"] and exs[1]["id"] == "law-1" and exs[1]["subset"] == "law"
    assert "我国的根本大法是\n____。" in user(exs[1])
    with pytest.raises(DataError, match=r"law_test\.csv:2: ceval: missing field 'answer': C-Eval's test split"):
        load(ORIG / "law_test.csv", "ceval")


def test_lawbench_gold_inside_answer_text():
    exs, info = load(ORIG / "1-2.json", "lawbench")
    assert info["layout"] == "original" and info["converted"] == 4
    assert [(e["kind"], e["answer"]) for e in exs] == [("mc", "C"), ("mc", "C"), ("mc", "C"), ("mc_multi", "ABD")]
    assert exs[0]["choices"] == ["宣告失踪案件", "认定公民无民事行为能力案件", "选民资格案件", "认定财产无主案件"]
    assert user(exs[1]).startswith("依照法律规定，按份共有人转让其共有财产份额时，其他共有人享有\nA. 优先购买权")
    assert len(exs[2]["choices"]) == 5 and reply(exs[2]).startswith("答案：C. 被告人包某某辨称")
    assert exs[0]["id"] == "1-2-1" and exs[0]["subset"] == "1-2"
    gen, _ = load(ORIG / "1-1.json", "lawbench")
    assert gen[0]["kind"] == "generation" and reply(gen[0]).startswith("中华人民共和国刑法的任务")
    assert "刑法第二条" in user(gen[0])


def test_lawbench_unreadable_options_are_reported_at_their_line(tmp_path):
    items = [json.loads((ORIG / "1-2.json").read_text(encoding="utf-8"))[0],
             {"instruction": "选择", "question": "没有选项的题目", "answer": "正确答案：B。"}]
    p = tmp_path / "3-6.json"
    text = json.dumps(items, ensure_ascii=False, indent=2)
    p.write_text(text, encoding="utf-8")
    line = text.split("\n").index("  {", 2) + 1  # where the second item starts
    with pytest.raises(DataError, match=rf"3-6\.json:{line}: lawbench: field 'answer' names option B but the options"):
        load(p, "lawbench")
    exs, info = load(p, "lawbench", on_error="skip")
    assert exs[0]["id"] == "3-6-1" and info["skipped"] == 1


def test_adapter_with_data_takes_layout_encoding_and_split_file(tmp_path):
    from verticalize import Adapter

    a = Adapter(base="smollm2-135m").with_data(str(ORIG / "ori_pqal.json"), preset="pubmedqa", layout="original",
                                               encoding="utf-8", split_file=str(ORIG / "test_ground_truth.json"))
    spec = a.recipe.data[0]
    assert (spec.layout, spec.encoding, spec.split_file) == ("original", "utf-8", str(ORIG / "test_ground_truth.json"))
    a.to_yaml(tmp_path / "r.yaml")
    assert Adapter.from_yaml(tmp_path / "r.yaml") == a
    exs, info = load_source(spec)
    assert [e["id"] for e in exs] == ["16418930", "9488747"] and info["filtered"] == 2


# ----------------------------------------------------------------------------------------- MMLU


def test_mmlu_original_headerless_csv_and_hub_layout(tmp_path):
    exs, info = load(ORIG / "abstract_algebra_test.csv", "mmlu")
    assert info["layout"] == "original" and [e["answer"] for e in exs] == ["B", "C", "D"]
    assert exs[0]["choices"] == ["0", "4", "2", "6"] and exs[2]["choices"][3] == "0,1,4"
    assert user(exs[0]).startswith("Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18))")
    assert exs[0]["subset"] == "abstract_algebra" and exs[0]["id"] == "abstract_algebra-1"
    bad = tmp_path / "anatomy_test.csv"
    bad.write_text("What is the axis?,C1,C2,C3,C4,B\nA row cut short,C1,C2\n")
    _, info = load(bad, "mmlu", on_error="skip")
    assert info["skipped_examples"] == [
        f"{bad}:2: row has 3 fields, expected 6 (question, A, B, C, D, answer; the file has no header)"]
    from datasets import Dataset

    hub = tmp_path / "mmlu-test.parquet"
    Dataset.from_list([{"question": "2+2?", "subject": "elementary_mathematics", "choices": ["3", "4", "5", "6"],
                        "answer": 1}]).to_parquet(str(hub))
    exs, info = load(hub, "mmlu")
    assert info["layout"] == "hub" and exs[0]["answer"] == "B" and exs[0]["subset"] == "elementary_mathematics"


# ------------------------------------------------------------------------ layouts, manifest, readers


def test_unknown_and_undetectable_layouts_list_the_allowed_ones(tmp_path):
    with pytest.raises(DataError, match=r"preset fpb: unknown layout 'orignal'; allowed: original, hub -- original "
                       r"\(Sentences_"):
        load(ORIG / "Sentences_50Agree.txt", "fpb", layout="orignal")
    p = tmp_path / "x.jsonl"
    p.write_text('{"foo": 1}\n')
    with pytest.raises(DataError, match=r"cannot tell which pubmedqa layout this is from its columns \['foo'\]; "
                       r"layouts: original \(ori_pqal\.json.*Set layout: to one of original, hub"):
        load(p, "pubmedqa")
    with pytest.raises(ValueError, match="layout needs a preset"):
        DataSpec(path="x.jsonl", layout="original")


def test_manifest_names_every_skipped_row(tmp_path):
    rows = [{"question": f"Q{i}", "options": {"A": "a", "B": "b"}, "answer_idx": "Z" if i % 2 else "A"}
            for i in range(60)]
    p = tmp_path / "medqa.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, info = load(p, "medqa", on_error="skip")
    assert info["skipped"] == 30 == len(info["skipped_examples"])
    assert info["skipped_examples"][-1].startswith(f"{p}:60: medqa: field 'answer_idx' is 'Z'")
    accounted(info, 60)


def test_csv_row_with_one_field_reports_its_real_count(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("instruction,input,output\na,b,c\nlonely\nx,y,z,\nd,e,f,g\n")
    with pytest.raises(DataError, match=r"d\.csv:3: row has 1 field, header has 3"):
        load(p)
    exs, info = load(p, on_error="skip")
    assert len(exs) == 2  # a trailing empty field is no data: 'x,y,z,' loads
    assert info["skipped_examples"] == [f"{p}:3: row has 1 field, header has 3", f"{p}:5: row has 4 fields, header has 3"]


def test_bom_and_utf16_text_files(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("instruction,output\n你好,hi\n".encode("utf-8-sig"))
    exs, info = load(p)
    assert info["encoding"] == "utf-8-sig" and user(exs[0]) == "你好"
    t = tmp_path / "excel_unicode.tsv"  # Excel "Unicode text": UTF-16 LE with a BOM, tab-separated
    t.write_bytes("instruction\toutput\nq\ta\n".encode("utf-16"))
    exs, info = load(t)
    assert info["encoding"] == "utf-16" and reply(exs[0]) == "a"
    j = tmp_path / "latin.jsonl"
    j.write_bytes('{"text": "café"}\n'.encode("latin-1"))
    exs, info = load(j, encoding="latin-1")
    assert exs[0]["text"] == "café" and info["encoding"] == "iso8859-1"
    with pytest.raises(ValueError, match="unknown encoding 'utf-9'"):
        DataSpec(path=str(j), encoding="utf-9")


def test_txt_is_one_example_per_line_and_unsupported_types_are_named(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text("first line\n\nsecond line\u2029still second\n")
    exs, info = load(p, format="text")
    assert [e["text"] for e in exs] == ["first line", "second line\u2029still second"] and info["read"] == 2
    x = tmp_path / "old.xls"
    x.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"unsupported file type '\.xls'; allowed: .*\.txt, \.xlsx.*re-save it as "
                       r"\.xlsx or \.csv"):
        load(x)


def test_check_spec_for_validate(tmp_path):
    x = tmp_path / "old.xls"
    x.write_bytes(b"\xd0\xcf\x11\xe0")
    assert "unsupported file type '.xls'" in benchmarks.check_spec(DataSpec(path=str(x)))[0]
    gbk = tmp_path / "agronomy.csv"
    gbk.write_bytes("Question,A\n问题,甲\n".encode("gb18030"))
    assert re.search(r"agronomy\.csv:2: not UTF-8 text: byte 0x\w\w at byte offset 11",
                     benchmarks.check_spec(DataSpec(path=str(gbk), preset="cmmlu"))[0])
    assert benchmarks.check_spec(DataSpec(path=str(gbk), preset="cmmlu", encoding="gb18030")) == []
    assert benchmarks.check_spec(DataSpec(path=str(ORIG / "Sentences_50Agree.txt"), preset="fpb")) == []
    probs = benchmarks.check_spec(DataSpec(path=str(gbk), preset="cmmlu", layout="csv", split_file="nope.json"))
    assert probs[0] == "preset cmmlu: unknown layout 'csv'; allowed: original, hub"
    assert probs[1] == "split_file not found: nope.json"
    assert "unknown benchmark preset 'cmmmlu'" in benchmarks.check_spec(DataSpec(path=str(gbk), preset="cmmmlu"))[0]


def test_load_benchmark_is_the_suite_entry_point():
    recs, rep = load_benchmark(ORIG / "1-2.json", "lawbench")
    assert all({"task", "kind", "answer", "choices", "id"} <= set(r) for r in recs)
    assert rep.layout == "original" and rep.read == 4 and rep.skipped == 0
    recs, rep = load_benchmark(ORIG / "ori_pqal.json", "pubmedqa", split_file=ORIG / "test_ground_truth.json",
                               limit=1)
    assert [r["id"] for r in recs] == ["16418930"] and rep.filtered == 3


def test_every_preset_has_layouts_and_a_table():
    assert set(LAYOUTS) == set(PRESETS)
    table = benchmarks.layouts_table()
    for name, layouts in LAYOUTS.items():
        for lay in layouts:
            assert f"| `{name}` | `{lay}` |" in table
    assert "mc / mc_multi" in table


def test_mc_multi_is_scored_by_set_match():
    from verticalize.evals.suite import KINDS
    from verticalize.evals.tasks import PRIMARY, generation_requests, score_task

    assert "mc_multi" in KINDS and PRIMARY["mc_multi"] == "set_match"
    items = [{"answer": "ABD", "choices": ["a", "b", "c", "d"]}, {"answer": "AC", "choices": ["a", "b", "c"]},
             {"answer": "B", "choices": ["a", "b"]}]
    scores, preds = score_task(None, None, "mc_multi", items, None, texts=[["答案：D、B、A"], ["Answer: A"], ["不知道"]])
    assert preds == ["ABD", "A", None] and scores == {"set_match": pytest.approx(1 / 3), "parsed": pytest.approx(2 / 3)}
    assert generation_requests(None, "mc", items) == []
