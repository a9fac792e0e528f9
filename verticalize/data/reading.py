"""Documents -> reading-comprehension tasks, for continued pre-training (AdaptLLM, Cheng et al., ICLR 2024).

Raw-text CPT teaches a model the domain's knowledge but costs it prompting ability; appending tasks
mined from each document to that document ("read, then answer questions about what you read")
keeps both. The miners here are offline, rule-based and deterministic, in English and Chinese:

=================  =============================================================================
``summarize``      the document's title (a first line like 《…》 or a short heading) and, for a
                   statute, its purpose clause (为了……，制定本法); English: the lead sentence
``definition``     "X means / is defined as / refers to Y"; 本法所称X，是指Y / X是指Y
``word_to_text``   a sentence that uses two or three of the document's key terms
``completion``     the second half of a sentence, given its first half
``nli``            adjacent sentences joined by a connective: therefore/thus -> entailment (yes),
                   however/but -> contradiction (no), moreover/in addition -> neutral (maybe);
                   因此/所以 -> 是, 但是/然而 -> 否, 此外/同时 -> 可能
``cause_effect``   "A because B" -> why A? B; 因为A，所以B / 由于A，B -> 为什么B？因为A
``conditional``    "If A, (then) B" -> what if A? B; 如果/若A，则B -> 如果A，会怎样？B
``qa``             statute articles: 第X条 ……应当/不得/有权…… -> 根据《法》第X条，……应当如何？;
                   English "Section N ... shall/must/may not ..." -> what shall ... do?
=================  =============================================================================

:class:`ReadingComprehension` is a Step (see :class:`verticalize.strategies.Step`): it turns
``{"text": doc}`` into ``{"text": doc + "\\n\\n" + tasks}`` and counts the tasks of each miner.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ReadingComprehension", "Task", "MINERS", "mine", "detect_language", "sentences"]


@dataclass(frozen=True)
class Task:
    miner: str
    question: str
    answer: str

    def render(self, lang: str) -> str:
        if lang == "zh":
            return f"问题：{self.question}\n答案：{self.answer}"
        return f"Question: {self.question}\nAnswer: {self.answer}"


# ---- text helpers ---------------------------------------------------------------------------
_CJK = re.compile(r"[\u4e00-\u9fff]")


def detect_language(text: str) -> str:
    """``zh`` when at least a fifth of the letters are CJK ideographs, else ``en``."""
    letters = sum(1 for c in text[:4000] if c.isalpha())
    return "zh" if letters and len(_CJK.findall(text[:4000])) / letters >= 0.2 else "en"


_ZH_END = re.compile(r"(?<=[。！？；])|\n")
_EN_END = re.compile(r"(?<=[.!?;])\s+(?=[\"'(A-Z0-9])|\n+")
_ABBREV = re.compile(r"(?:\b(?:e\.g|i\.e|etc|Mr|Mrs|Ms|Dr|Inc|Ltd|Co|No|vs|U\.S|art|Art|sec|Sec)\.)$")


def sentences(text: str, lang: str) -> list[str]:
    """The document's sentences (zh: ends at 。！？； and line breaks; en: at . ! ? ; followed by a
    capital, and line breaks), stripped, empty ones dropped."""
    if lang == "zh":
        return [s.strip() for s in _ZH_END.split(text) if s and s.strip()]
    out: list[str] = []
    for part in _EN_END.split(text):
        part = (part or "").strip()
        if not part:
            continue
        if out and _ABBREV.search(out[-1]):  # "e.g. Foo" was not a sentence end
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def _strip_end(s: str) -> str:
    return s.rstrip("。；;.!?！？，, ")


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _spread(items: list[Any], k: int | None) -> list[Any]:
    """k items spread evenly over the list, in order (all when k is None or larger)."""
    if k is None or len(items) <= k:
        return list(items)
    if k <= 0:
        return []
    if k == 1:
        return [items[0]]
    step = (len(items) - 1) / (k - 1)
    return [items[round(i * step)] for i in range(k)]


_ARTICLE = re.compile(r"^(第[零〇一二三四五六七八九十百千万\d]+条(?:之[一二三四五六七八九十]+)?)\s*")
_TITLE_ZH = re.compile(r"^《([^》]{2,40})》\s*$")


@dataclass
class Doc:
    text: str
    lang: str
    title: str | None
    sents: list[str]           # sentences (zh: article numbers stripped)
    article_of: list[str | None]  # the article (第X条) each sentence belongs to, if any


def _parse(text: str, lang: str, title: str | None = None) -> Doc:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if title is None and lines:
        first = lines[0]
        m = _TITLE_ZH.match(first)
        if m:
            title = first
        elif (len(lines) > 1 and len(first) <= (30 if lang == "zh" else 80) and not re.search(r"[。.!?！？；;,，]$", first)
              and not _ARTICLE.match(first)):
            title = first
    body = text
    if title and lines and lines[0] == title:
        body = text.split(title, 1)[1]
    sents: list[str] = []
    articles: list[str | None] = []
    current: str | None = None
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _ARTICLE.match(line) if lang == "zh" else re.match(r"^((?:Article|Section|Sec\.|§)\s*\d+[A-Za-z]?)[.:]?\s+", line)
        if m:
            current = m.group(1)
            line = line[m.end():]
        for s in sentences(line, lang):
            sents.append(s)
            articles.append(current)
    return Doc(text=text, lang=lang, title=title, sents=sents, article_of=articles)


def _title_name(doc: Doc) -> str | None:
    if not doc.title:
        return None
    m = _TITLE_ZH.match(doc.title)
    return m.group(1) if m else doc.title


# ---- miners: each returns every task it finds in a document, in document order ---------------
def mine_summarize(doc: Doc) -> list[Task]:
    out: list[Task] = []
    if doc.lang == "zh":
        if doc.title:
            out.append(Task("summarize", "请为上文拟一个标题。", doc.title))
        for s in doc.sents:
            m = re.match(r"^为了?(.{4,}?)，(?:根据[^，]+，)?制定本(法|条例|规定|办法)。?$", s)
            if m:
                out.append(Task("summarize", f"本{m.group(2)}的立法目的是什么？", _strip_end(m.group(1)) + "。"))
                break
        return out
    if doc.title:
        out.append(Task("summarize", "Write a title for the text above.", doc.title))
    lead = next((s for s in doc.sents if len(s.split()) >= 6), None)
    if lead and len(doc.sents) >= 3:
        out.append(Task("summarize", "Summarize the text above in one sentence.", lead))
    return out


_DEF_ZH = re.compile(r"(?:^|[，；。])(?:本(?:法|条例|规定|办法)所称|前款所称|所称)?“?([\u4e00-\u9fffA-Za-z0-9（）]{2,20}?)”?，?是指([^。；]{4,})")
_DEF_EN = re.compile(r"^(?:The term |A |An |The )?[\"“]?([A-Za-z][\w\- ]{1,40}?)[\"”]? (?:means|is defined as|refers to|shall mean) (.{8,})$")


_ENUM_ZH = re.compile(r"^(?:[（(][一二三四五六七八九十\d]+[）)]|[一二三四五六七八九十]+、|\d+[.、．])\s*")


def mine_definition(doc: Doc) -> list[Task]:
    out: list[Task] = []
    seen: set[str] = set()
    for s in doc.sents:
        if doc.lang == "zh":
            for m in _DEF_ZH.finditer(s):
                term = m.group(1)
                term = re.sub(r"^(?:本(?:法|条例|规定|办法)|前款)?所称", "", term)
                term = _ENUM_ZH.sub("", term)  # an item's number, （一） or 1. or 一、, is not part of the term
                if term in seen or len(term) < 2:
                    continue
                seen.add(term)
                out.append(Task("definition", f"“{term}”是指什么？", f"{term}是指{_strip_end(m.group(2))}。"))
        else:
            m = _DEF_EN.match(s)
            if m and m.group(1).lower() not in seen:
                term = m.group(1).strip()
                seen.add(term.lower())
                out.append(Task("definition", f"How is \"{term}\" defined?", f"{_cap(term)} means {_strip_end(m.group(2))}."))
    return out


_EN_STOP = set("""a about above after again against all also although among an and any are as at be because been
before being below between both but by can could did do does doing down during each either else few for from
further had has have having he her here hers him his how however if in into is it its itself just may might more
most must no nor not now of off on once only or other our out over own same shall she should so some such than
that the their them then there these they this those through thus to too under until up upon very was we were
what when where which while who whom why will with within without would yet you your section article every each
shall therefore moreover""".split())


def _keywords(doc: Doc, limit: int = 30) -> list[str]:
    """The document's key terms: defined terms first, then (en) frequent content words, (zh)
    quoted terms and terms that recur as the subject of a duty (X应当/X不得/X有权)."""
    terms: list[str] = []
    for t in mine_definition(doc):
        term = re.search(r"“(.+?)”|\"(.+?)\"", t.question)
        if term:
            terms.append(term.group(1) or term.group(2))
    if doc.lang == "zh":
        counts: Counter[str] = Counter()
        for s in doc.sents:
            counts.update(q for q in re.findall(r"[“「]([\u4e00-\u9fff]{2,8})[”」]", s))
            counts.update(m for m in re.findall(r"(?:^|[，；、])([\u4e00-\u9fff]{2,6}?)(?:应当|不得|有权|可以)", s))
        terms += [w for w, n in counts.most_common()
                  if n >= 2 and not re.search(r"^(?:本法|依照|按照|由)|[的其或及和对在自向从于并]", w)]
    else:
        counts = Counter(w.lower() for s in doc.sents for w in re.findall(r"[A-Za-z][A-Za-z\-]{4,}", s)
                         if w.lower() not in _EN_STOP)
        terms += [w for w, n in counts.most_common() if n >= 2]
    out: list[str] = []
    for t in terms:
        if t not in out and not any(t in o or o in t for o in out):
            out.append(t)
    return out[:limit]


def mine_word_to_text(doc: Doc) -> list[Task]:
    keys = _keywords(doc)
    if len(keys) < 2:
        return []
    out: list[Task] = []
    used: set[tuple[str, ...]] = set()
    for s in doc.sents:
        low = s if doc.lang == "zh" else s.lower()
        if doc.lang != "zh" and len(s.split()) > 40 or doc.lang == "zh" and (len(s) > 80 or s.startswith("（")):
            continue
        found = [k for k in keys if (k if doc.lang == "zh" else k.lower()) in low][:3]
        if len(found) < 2 or tuple(found) in used:
            continue
        used.add(tuple(found))
        if doc.lang == "zh":
            out.append(Task("word_to_text", f"请用以下词语造一个与上文相关的句子：{'、'.join(found)}。", s))
        else:
            out.append(Task("word_to_text", f"Write a sentence about the text above that uses these words: "
                                            f"{', '.join(found)}.", s))
    return out


def mine_completion(doc: Doc) -> list[Task]:
    out: list[Task] = []
    for s in doc.sents:
        if doc.lang == "zh":
            if len(s) < 24:
                continue
            cuts = [m.end() for m in re.finditer(r"[，、]", s) if 8 <= m.end() <= len(s) - 8]
            if not cuts:
                continue
            cut = min(cuts, key=lambda c: abs(c - len(s) / 2))
            out.append(Task("completion", f"请补全下面的句子：{s[:cut]}……", s[cut:]))
        else:
            words = s.split()
            if len(words) < 12:
                continue
            cut = len(words) // 2
            out.append(Task("completion", f"Complete the sentence: {' '.join(words[:cut])} ...",
                            " ".join(words[cut:])))
    return out


_NLI_EN = [(r"(?:Therefore|Thus|Hence|Consequently|Accordingly)", "yes"),
           (r"(?:However|But|Nevertheless|Nonetheless|In contrast|On the contrary)", "no"),
           (r"(?:Moreover|Furthermore|In addition|Additionally|Also)", "maybe")]
_NLI_ZH = [(r"(?:因此|所以|从而)", "是"), (r"(?:但是|但|然而|不过)", "否"), (r"(?:此外|另外|同时|并且)", "可能")]


def mine_nli(doc: Doc) -> list[Task]:
    """Adjacent sentences whose second opens with a connective: premise, hypothesis (the second,
    connective removed) and the relation the connective signals."""
    out: list[Task] = []
    table = _NLI_ZH if doc.lang == "zh" else _NLI_EN
    for prev, s, same in zip(doc.sents, doc.sents[1:], [a == b for a, b in zip(doc.article_of, doc.article_of[1:])]):
        if not same:
            continue
        for pat, label in table:
            m = re.match(pat + (r"[，,]?\s*" if doc.lang == "zh" else r",?\s+"), s)
            if not m or len(s) - m.end() < 4 or len(prev) < 6:
                continue
            hyp = s[m.end():]
            if doc.lang == "zh":
                out.append(Task("nli", f"前提：“{_strip_end(prev)}”。假设：“{_strip_end(hyp)}”。前提是否蕴含假设？"
                                       "选项：是、可能、否。", label))
            else:
                out.append(Task("nli", f"Premise: \"{_strip_end(prev)}.\" Hypothesis: \"{_cap(_strip_end(hyp))}.\" "
                                       "Does the premise entail the hypothesis? Options: yes, maybe, no.", label))
            break
    return out


def mine_cause_effect(doc: Doc) -> list[Task]:
    out: list[Task] = []
    for s in doc.sents:
        if doc.lang == "zh":
            m = re.search(r"(?:因为|由于)([^，。；]{3,})，(?:所以|因此|故)?([^。；]{3,})", s)
            if m and not m.group(2).startswith(("但", "或")):
                out.append(Task("cause_effect", f"为什么{_strip_end(m.group(2))}？", f"因为{_strip_end(m.group(1))}。"))
        else:
            m = re.match(r"^(.{10,}?),? because (?:of )?(.{5,})$", s)
            if m:
                out.append(Task("cause_effect", f"What is the reason that {_lower_first(_strip_end(m.group(1)))}?",
                                f"Because {_strip_end(m.group(2))}."))
                continue
            m = re.match(r"^(?:Because|Since) (.{5,}?), (.{5,})$", s)
            if m:
                out.append(Task("cause_effect", f"What is the reason that {_lower_first(_strip_end(m.group(2)))}?",
                                f"Because {_strip_end(m.group(1))}."))
    return out


def _lower_first(s: str) -> str:
    """``s`` as the rest of a question: a lower-case first word unless it looks like a name."""
    w = s.split(" ", 1)[0]
    return s if (len(w) > 1 and (w.isupper() or w[1:2].isupper())) else s[:1].lower() + s[1:]


def mine_conditional(doc: Doc) -> list[Task]:
    out: list[Task] = []
    for s in doc.sents:
        if doc.lang == "zh":
            m = re.search(r"(?:如果|假如|若|如)([^，。；]{3,})，(?:则|那么)?([^。；]{3,})", s)
            if m and (m.group(0).startswith(("如果", "假如")) or "则" in m.group(0)):
                out.append(Task("conditional", f"如果{_strip_end(m.group(1))}，会怎样？", _strip_end(m.group(2)) + "。"))
        else:
            m = re.match(r"^If (.{5,}?),(?: then)? (.{5,})$", s)
            if m:
                out.append(Task("conditional", f"What happens if {_strip_end(m.group(1))}?",
                                f"{_cap(_strip_end(m.group(2)))}."))
    return out


_MODAL_ZH = {"应当": "应当如何", "不得": "不得做什么", "有权": "有权做什么"}
_MODAL_EN = {"shall not": "What shall {s} not do", "must not": "What must {s} not do", "shall": "What shall {s} do",
             "must": "What must {s} do", "may not": "What may {s} not do"}


def mine_qa(doc: Doc) -> list[Task]:
    """Question-answer pairs from duty patterns, cited by article when the document has them."""
    out: list[Task] = []
    name = _title_name(doc)
    for s, art in zip(doc.sents, doc.article_of):
        if doc.lang == "zh":
            m = re.search(r"(应当|不得|有权)", s)
            if not m or len(s) > 160:
                continue
            head, tail = s[:m.start()], _strip_end(s[m.end():])
            clause_start = max(head.rfind("，"), head.rfind("；")) + 1
            subject = head[clause_start:]
            if not (1 <= len(subject) <= 20) or len(tail) < 2 or not re.match(r"[\u4e00-\u9fff]", subject):
                continue
            where = f"《{name}》{art or ''}" if name else (art or "上文")
            out.append(Task("qa", f"根据{where}，{head}{_MODAL_ZH[m.group(1)]}？", _strip_end(s) + "。"))
        else:
            m = re.search(r"\b(shall not|must not|may not|shall|must)\b", s)
            if not m or len(s.split()) > 60:
                continue
            subject = s[:m.start()].strip().rstrip(",")
            tail = _strip_end(s[m.end():]).strip()
            if not (1 <= len(subject.split()) <= 12) or len(tail.split()) < 2:
                continue
            where = " of ".join(x for x in (art, name) if x)
            q = _MODAL_EN[m.group(1)].format(s=_lower_first(subject))
            out.append(Task("qa", f"According to {where or 'the text above'}, {q[0].lower()}{q[1:]}?",
                            _strip_end(s) + "."))
    return out


#: every miner by name, in the order their tasks are appended
MINERS: dict[str, Callable[[Doc], list[Task]]] = {
    "summarize": mine_summarize,
    "definition": mine_definition,
    "word_to_text": mine_word_to_text,
    "completion": mine_completion,
    "nli": mine_nli,
    "cause_effect": mine_cause_effect,
    "conditional": mine_conditional,
    "qa": mine_qa,
}


def mine(text: str, lang: str | None = None, miners: Iterable[str] | None = None, title: str | None = None
         ) -> dict[str, list[Task]]:
    """Every task each miner finds in ``text`` (language detected when not given)."""
    lang = lang or detect_language(text)
    doc = _parse(text, lang, title)
    return {name: MINERS[name](doc) for name in (miners or MINERS)}


def select_tasks(found: dict[str, list[Task]], max_tasks: int | None) -> list[Task]:
    """At most ``max_tasks`` tasks, shared between the miners as evenly as their finds allow (a miner
    with fewer finds leaves its share to the others), each miner's picks spread over the document."""
    if max_tasks is None:
        quota = {k: len(v) for k, v in found.items()}
    else:
        quota = {k: 0 for k in found}
        left = max_tasks
        while left > 0:
            open_ = [k for k in found if quota[k] < len(found[k])]
            if not open_:
                break
            for k in open_:
                if left == 0:
                    break
                quota[k] += 1
                left -= 1
    return [t for k, tasks in found.items() for t in _spread(tasks, quota[k])]


class ReadingComprehension:
    """A Step: appends reading-comprehension tasks mined from each raw-text document to it.

    ``{"text": doc}`` -> ``{"text": doc + "\\n\\n" + tasks}`` (one ``Question: ... / Answer: ...`` block
    per task, ``问题：…/答案：…`` for Chinese). Documents in other languages than ``languages``,
    chat and preference examples pass unchanged. Deterministic: no randomness, no model.

    - ``languages``: the languages mined (``en``, ``zh``); an example's ``lang`` says which, else
      it is detected from the characters.
    - ``max_tasks_per_doc``: at most this many tasks per document, shared across miners (None: all).
    - ``miners``: which miners run (default: all of :data:`MINERS`).

    ``counts()``: tasks appended per miner, plus ``documents`` (raw-text documents seen),
    ``with_tasks`` and ``tasks``.
    """

    name = "reading_comprehension"

    def __init__(self, languages: Iterable[str] = ("en", "zh"), max_tasks_per_doc: int | None = 24,
                 miners: Iterable[str] | None = None):
        self.languages = list(languages)
        bad = [x for x in self.languages if x not in ("en", "zh")]
        if bad:
            raise ValueError(f"ReadingComprehension mines en and zh, not {bad}")
        self.max_tasks_per_doc = max_tasks_per_doc
        self.miners = list(miners) if miners is not None else list(MINERS)
        unknown = [m for m in self.miners if m not in MINERS]
        if unknown:
            raise ValueError(f"unknown miners {unknown}; known: {list(MINERS)}")
        self._counts: Counter[str] = Counter({m: 0 for m in self.miners})
        self._counts.update({"documents": 0, "with_tasks": 0, "tasks": 0})

    def tasks_for(self, text: str, lang: str | None = None, title: str | None = None) -> list[Task]:
        lang = lang if lang in ("en", "zh") else detect_language(text)
        if lang not in self.languages:
            return []
        return select_tasks(mine(text, lang, self.miners, title), self.max_tasks_per_doc)

    def __call__(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for ex in batch:
            if "text" not in ex or "messages" in ex or not isinstance(ex["text"], str):
                out.append(ex)
                continue
            self._counts["documents"] += 1
            lang = ex.get("lang") if ex.get("lang") in ("en", "zh") else detect_language(ex["text"])
            tasks = self.tasks_for(ex["text"], lang, ex.get("title") if isinstance(ex.get("title"), str) else None)
            if not tasks:
                out.append(ex)
                continue
            self._counts["with_tasks"] += 1
            self._counts["tasks"] += len(tasks)
            self._counts.update(t.miner for t in tasks)
            body = "\n\n".join(t.render(lang) for t in tasks)
            out.append({**ex, "text": ex["text"].rstrip() + "\n\n" + body})
        return out

    def counts(self) -> dict[str, int]:
        return dict(self._counts)
