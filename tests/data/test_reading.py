"""Documents -> reading-comprehension tasks (verticalize.data.reading): each miner on hand-written
en and zh documents, the Step contract, and the legal pack's statutes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verticalize.data.reading import MINERS, ReadingComprehension, detect_language, mine
from verticalize.strategies import Step

REPO = Path(__file__).resolve().parents[2]

EN = """Deposit Insurance
A deposit insurer protects the savings of ordinary depositors when a bank fails. Deposit insurance means a \
guarantee that covers deposits up to a fixed limit per depositor. The scheme is funded by premiums that member \
banks pay every year. Therefore, taxpayers do not pay for the losses of small failed banks. However, very large \
deposits above the limit remain at risk. Depositors rarely run on insured banks because the guarantee removes the \
reason to withdraw early. If a member bank fails, the insurer pays each depositor within seven days.
Section 4. A member bank shall report its insured deposits to the insurer every quarter."""

ZH = """《存款保险条例》
第一条 为了保护存款人的合法权益，及时防范和化解金融风险，制定本条例。
第二条 本条例所称存款保险，是指投保机构向存款保险基金管理机构交纳保费，形成存款保险基金的制度。
第三条 投保机构应当按时足额交纳保费。因此，存款保险基金能够持续积累。
第四条 由于投保机构经营失败，存款人可能遭受损失。如果投保机构被撤销，则存款保险基金管理机构在限额内偿付被保险存款。
第五条 投保机构不得拒绝存款保险基金管理机构的核查。"""


def _qa(lang: str, miner: str) -> list[tuple[str, str]]:
    return [(t.question, t.answer) for t in mine(EN if lang == "en" else ZH, lang)[miner]]


def test_summarize() -> None:
    assert _qa("en", "summarize") == [
        ("Write a title for the text above.", "Deposit Insurance"),
        ("Summarize the text above in one sentence.",
         "A deposit insurer protects the savings of ordinary depositors when a bank fails.")]
    assert _qa("zh", "summarize") == [("请为上文拟一个标题。", "《存款保险条例》"),
                                      ("本条例的立法目的是什么？", "保护存款人的合法权益，及时防范和化解金融风险。")]


def test_definition() -> None:
    assert _qa("en", "definition") == [
        ('How is "Deposit insurance" defined?',
         "Deposit insurance means a guarantee that covers deposits up to a fixed limit per depositor.")]
    assert _qa("zh", "definition") == [
        ("“存款保险”是指什么？", "存款保险是指投保机构向存款保险基金管理机构交纳保费，形成存款保险基金的制度。")]
    # an item of a definitions article: its number is not part of the term
    items = mine("本法下列用语的含义：\n（一）高级管理人员，是指公司的经理、副经理。\n（二）控股股东，是指持股超过半数的股东。", "zh")
    assert [(t.question, t.answer) for t in items["definition"]] == [
        ("“高级管理人员”是指什么？", "高级管理人员是指公司的经理、副经理。"),
        ("“控股股东”是指什么？", "控股股东是指持股超过半数的股东。")]


def test_word_to_text() -> None:
    en = _qa("en", "word_to_text")
    assert en[1] == ("Write a sentence about the text above that uses these words: Deposit insurance, deposits, "
                     "guarantee.", "Deposit insurance means a guarantee that covers deposits up to a fixed limit per "
                     "depositor.")
    assert len(en) == 7 and all(w.lower() in a.lower() for q, a in en for w in q.split(": ")[1][:-1].split(", "))
    assert _qa("zh", "word_to_text") == [
        ("请用以下词语造一个与上文相关的句子：存款保险、投保机构。",
         "本条例所称存款保险，是指投保机构向存款保险基金管理机构交纳保费，形成存款保险基金的制度。")]


def test_completion() -> None:
    en = _qa("en", "completion")
    assert en[0] == ("Complete the sentence: A deposit insurer protects the savings ...",
                     "of ordinary depositors when a bank fails.")
    assert len(en) == 7
    assert _qa("zh", "completion") == [
        ("请补全下面的句子：为了保护存款人的合法权益，……", "及时防范和化解金融风险，制定本条例。"),
        ("请补全下面的句子：本条例所称存款保险，是指投保机构向存款保险基金管理机构交纳保费，……", "形成存款保险基金的制度。"),
        ("请补全下面的句子：如果投保机构被撤销，……", "则存款保险基金管理机构在限额内偿付被保险存款。")]


def test_nli_from_connectives() -> None:
    assert _qa("en", "nli") == [
        ('Premise: "The scheme is funded by premiums that member banks pay every year." Hypothesis: "Taxpayers do '
         'not pay for the losses of small failed banks." Does the premise entail the hypothesis? Options: yes, '
         'maybe, no.', "yes"),
        ('Premise: "Therefore, taxpayers do not pay for the losses of small failed banks." Hypothesis: "Very large '
         'deposits above the limit remain at risk." Does the premise entail the hypothesis? Options: yes, maybe, '
         'no.', "no")]
    assert _qa("zh", "nli") == [
        ("前提：“投保机构应当按时足额交纳保费”。假设：“存款保险基金能够持续积累”。前提是否蕴含假设？选项：是、可能、否。", "是")]


def test_cause_effect_and_conditional() -> None:
    assert _qa("en", "cause_effect") == [("What is the reason that depositors rarely run on insured banks?",
                                          "Because the guarantee removes the reason to withdraw early.")]
    assert _qa("zh", "cause_effect") == [("为什么存款人可能遭受损失？", "因为投保机构经营失败。")]
    assert _qa("en", "conditional") == [("What happens if a member bank fails?",
                                         "The insurer pays each depositor within seven days.")]
    assert _qa("zh", "conditional") == [("如果投保机构被撤销，会怎样？", "存款保险基金管理机构在限额内偿付被保险存款。")]


def test_statute_qa() -> None:
    assert _qa("en", "qa") == [("According to Section 4 of Deposit Insurance, what shall a member bank do?",
                                "A member bank shall report its insured deposits to the insurer every quarter.")]
    assert _qa("zh", "qa") == [("根据《存款保险条例》第三条，投保机构应当如何？", "投保机构应当按时足额交纳保费。"),
                               ("根据《存款保险条例》第五条，投保机构不得做什么？", "投保机构不得拒绝存款保险基金管理机构的核查。")]


def test_step_appends_tasks_deterministically_and_counts() -> None:
    rc = ReadingComprehension(languages=["en", "zh"], max_tasks_per_doc=6)
    assert isinstance(rc, Step) and rc.name == "reading_comprehension"
    chat = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    docs = [{"text": EN, "id": "en"}, {"text": ZH, "id": "zh", "lang": "zh"}, chat, {"text": "Bonjour."}]
    before = json.dumps(docs)
    out = rc(docs)
    assert json.dumps(docs) == before  # inputs not mutated
    assert out[2] is chat and out[3] == {"text": "Bonjour."}
    en, zh = out[0]["text"], out[1]["text"]
    assert en.startswith(EN + "\n\nQuestion: Write a title for the text above.\nAnswer: Deposit Insurance\n\n")
    assert zh.startswith(ZH + "\n\n问题：请为上文拟一个标题。\n答案：《存款保险条例》\n\n")
    assert en.count("Question: ") == 6 and zh.count("问题：") == 6
    c = rc.counts()
    assert c["documents"] == 3 and c["with_tasks"] == 2 and c["tasks"] == 12
    assert sum(c[m] for m in MINERS) == 12 and c["summarize"] == 2  # 6 tasks over 8 miners: one each, in order
    assert ReadingComprehension(max_tasks_per_doc=6)(docs) == out  # deterministic
    only_en = ReadingComprehension(languages=["en"])([{"text": ZH}])
    assert only_en == [{"text": ZH}]
    assert detect_language(ZH) == "zh" and detect_language(EN) == "en"
    with pytest.raises(ValueError, match="unknown miners"):
        ReadingComprehension(miners=["nope"])


def test_legal_corpus_gives_counts_for_several_miners() -> None:
    docs = [json.loads(line) for line in (REPO / "domains/legal/corpus.jsonl").read_text("utf-8").splitlines()]
    rc = ReadingComprehension()
    out = rc(docs)
    c = rc.counts()
    assert c["documents"] == c["with_tasks"] == len(docs) == 24
    assert sum(c[m] > 0 for m in MINERS) >= 6
    for m in ("summarize", "definition", "word_to_text", "completion", "nli", "qa"):
        assert c[m] >= 20, (m, c)
    assert all(o["text"].startswith(d["text"]) for o, d in zip(out, docs))
    assert "根据《中华人民共和国保险法》第五条，保险活动当事人行使权利、履行义务应当如何？" in "".join(o["text"] for o in out)
