"""Timeline and comparison answers: what changed between dates, and what each
counterpart agreed.

Four question shapes (``question_shape``: rules on folded text, so English, Vietnamese
and Vietnamese typed without marks read alike; with an LLM, it is asked about the
questions the rules leave plain that name two years or two counterparts):

- ``change``: "How did … change between 2021 and 2024?", "… thay đổi thế nào từ 2021 đến 2024?"
- ``timeline``: "Timeline of …", "Dòng thời gian …", "… qua các năm"
- ``when``: "When did … meet …?", "… hội đàm … khi nào?" (one answer per date)
- ``comparison``: "What has Vietnam agreed with Japan and with Russia?", "So sánh … với Nhật Bản và Nga"

Every other question keeps the ordinary path (``RAG.ask``).

Each period (a year the question names, else an article date found among the passages
that pass the evidence gate) or each counterpart is retrieved *separately*, with its own
constraint: a date filter and date rule (rag.read.select) for a period, the name in the
question for a counterpart. The strongest article then cannot crowd out the others, and
a period with no evidence says so instead of borrowing some. Every point is a whole
sentence chosen by ``ExtractiveReader.select``; ``[n]`` numbers are shared across the
answer. With an LLM, English questions get their points translated (checked as in
rag.read.translate) and the answer gets one line on what changed, written from the cited
points only; without one, that line is left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np

from rag.embed import Embedder
from rag.glossary import GLOSSARY
from rag.read import facts
from rag.read.answer import ABSTAIN_MESSAGE, Answer, AnswerSentence
from rag.read.articles import ArticleReader
from rag.read.cite import Citations
from rag.read.extractive import ExtractiveReader, evidence_language
from rag.read.llm import stream
from rag.read.select import CANDIDATE_PASSAGES, Candidate
from rag.read.translate import translate_quote
from rag.retrieve import Hit, QueryAnalysis, Retriever
from rag.store import Filters, Store
from rag.text import detect_language, fold

MAX_POINTS = 3
_STOPS = (".", "!", "?", "…", "\"", "”", ")", ";")
# Points of one period: sentences of its best article scoring nearly as well as its best.
POINT_MARGIN = 0.05
# Periods found among the passages (no year named): articles with a usable sentence this close to the best one.
DISCOVERY_MARGIN = 0.06

_YEAR = r"((?:19|20)\d{2})"
_RANGE = re.compile(
    rf"\b(?:between|from|tu|giua)\s+(?:(?:nam|the year)\s+)?{_YEAR}\s+(?:and|to|until|through|den|toi|va|sang)\s+(?:nam\s+)?{_YEAR}\b"
)
_CHANGE = re.compile(r"\b(?:chang(?:e|ed|es)|evolv(?:e|ed)|develop(?:ed)?|shift(?:ed)?|thay doi|bien doi|tien trien|khac (?:gi|nhau))\b")
_TIMELINE = re.compile(r"\b(?:timeline|chronology|over the years|year by year|dong thoi gian|moc thoi gian|qua cac nam|qua tung nam|"
                       r"theo thoi gian|tien trinh)\b")
# Meetings recur, so "when" has one answer per date; a visit or a signing is one event and keeps the plain path.
_EVENT = r"(?:meet|met|meeting|hold talks|held talks|talks|gap|gap go|hoi dam|hoi kien)"
_WHEN = re.compile(rf"\bwhen (?:did|have|has|was|were)\b.*\b{_EVENT}\b"
                   rf"|\b{_EVENT}\b.*\b(?:khi nao|bao gio|luc nao|nhung lan nao|vao thoi gian nao)\b"
                   rf"|\b(?:khi nao|bao gio)\b.*\b{_EVENT}\b")
_COMPARE = re.compile(r"\b(?:compare|comparison|versus|vs|so sanh|khac nhau)\b")
# "with Japan and with Russia", "với Nhật Bản và (với) Nga": rewritten per counterpart.
_CONNECTOR = r"(?:with|voi|and|va|,)"
# Words that only say what shape the question has; removed to leave its topic.
_SHAPE_WORDS = re.compile(
    r"\bhow (?:did|has|have|does|do)\b|\bwhat (?:changed|has changed)\b|\bchang(?:e|ed|es)\b|\bevolv(?:e|ed)\b"
    r"|\b(?:timeline|chronology|history) of\b"
    r"|\btimeline\b|\bover the years\b|\bwhen (?:did|have|has|was|were)\b|\bcompare\b"
    r"|\bthay doi (?:the nao|ra sao|nhu the nao)\b|\bthay doi\b|\bdong thoi gian(?: cua| ve)?\b|\bqua cac nam\b|\bqua tung nam\b"
    r"|\b(?:vao )?(?:khi nao|bao gio|luc nao|thoi gian nao)\b|\bso sanh\b|\bnhu the nao\b|\bthe nao\b|\bra sao\b"
)

# The counterparts a comparison can name: GLOSSARY's English country words and their
# Vietnamese names ("nga" is also "ngã" folded; questions seldom mean the crossroads).
_COUNTERPARTS = ("japan", "russia", "china", "france", "korea", "laos", "cambodia", "india", "australia")
_EXTRA_FORMS = {"russia": ("russian", "lien bang nga"), "japan": ("japanese",), "korea": ("han quoc",)}
NO_EVIDENCE = {
    "en": "No article {where} says anything about this.",
    "vi": "Không có bài viết nào {where} nói về điều này.",
}


@dataclass
class Entity:
    key: str  # the English country word: "japan"
    name: str  # as shown in the question's language: "Japan", "Nhật Bản"
    vietnamese: str  # "Nhật Bản"
    forms: tuple[str, ...]  # folded spellings that name it in a question

    def mentioned_in(self, text: str) -> bool:
        """Whether an article sentence (Vietnamese, with marks) names it: the first word
        capitalised, so "Nga" (Russia) is not "ngã" or "Ngà"."""
        first = self.vietnamese.split()[0]
        return bool(re.search(rf"(?<!\w){re.escape(first)}(?!\w)", text))


@dataclass
class Shape:
    kind: str  # "change", "timeline", "when" or "comparison"
    topic: str  # the question without its shape words: what each period or counterpart is asked about
    periods: list[str] = field(default_factory=list)  # years the question names, in order; empty: found in the passages
    # The counterparts named: the sides of a comparison; for a timeline, what its points must be about.
    entities: list[Entity] = field(default_factory=list)


@dataclass
class Period:
    date: str | None  # "2021", "2021-12-02"; None for an undated article
    doc_id: str | None  # the article its points come from; None when there is no evidence
    title: str | None
    points: list[AnswerSentence]
    note: str | None = None  # "No article dated 2019 says anything about this."


@dataclass
class Side:
    entity: str
    points: list[AnswerSentence]
    doc_ids: list[str] = field(default_factory=list)
    note: str | None = None


def _entity(key: str, language: str = "vi") -> Entity:
    vietnamese = GLOSSARY[key][0]
    name = key.title() if language == "en" else vietnamese.title()
    return Entity(key, name, vietnamese.title(), (key, fold(vietnamese), *_EXTRA_FORMS.get(key, ())))


def _entities(question: str, folded: str, language: str) -> list[Entity]:
    # With marks, Vietnamese names are matched as written ("Nga" is not "Ngã"); without,
    # "nga" before "tu"/"ba" is a crossroads ("ngã tư"), not Russia.
    text = question.lower() if language == "vi" else folded
    found = []
    for key in _COUNTERPARTS:
        vietnamese = GLOSSARY[key][0]
        forms = (key, vietnamese if language == "vi" else fold(vietnamese), *_EXTRA_FORMS.get(key, ()))
        hits = [m.start() for form in forms for m in re.finditer(rf"(?<!\w){re.escape(form)}(?!\w)(?!\s+(?:tu|ba)\b)", text)]
        if hits:
            name = key.title() if language == "en" else vietnamese.title()
            found.append((min(hits), Entity(key, name, vietnamese.title(), forms)))
    return [e for _, e in sorted(found, key=lambda pair: pair[0])]


SHAPE_PROMPT = """Classify the question about news articles. Reply with one word:
timeline (events over time), change (how something changed between dates), comparison (several counterparts side by side),
or plain (anything else)."""
# Questions the rules leave plain go to the LLM only when they have what a shape needs,
# two years or two counterparts: any other question would pay a call for nothing. "When"
# stays with the rules: the LLM also called one-off events ("When was the FPA signed?")
# recurring, and those keep the plain path.


def question_shape(question: str, chat_model=None) -> Shape | None:
    """The question's shape, or None for a plain question (module docstring): by rules,
    and, for a question the rules leave plain, by ``chat_model`` when one is given."""
    folded = fold(question)
    language = detect_language(question)
    years = list(dict.fromkeys(re.findall(rf"(?<![\d/.,]){_YEAR}(?![\d/.,]\d)", folded)))
    ranged = _RANGE.search(folded)
    entities = _entities(question, folded, language)
    kind = None
    if len(entities) >= 2 and (_COMPARE.search(folded) or re.search(r"\b(?:with|voi)\b.*\b(?:and|va)\s+(?:with |voi )?", folded)):
        kind = "comparison"
    elif len(years) >= 2 and (ranged or _CHANGE.search(folded)):
        kind = "change"
    elif _TIMELINE.search(folded):
        kind = "timeline"
    elif _WHEN.search(folded) and not years:
        kind = "when"
    elif chat_model is not None and (len(years) >= 2 or len(entities) >= 2):
        kind = _llm_shape(chat_model, question, years, entities)
    if kind is None:
        return None
    periods = sorted(years) if kind in ("change", "timeline") else []
    return Shape(kind, _topic(question, folded, kind), periods, entities)


def _llm_shape(chat_model, question: str, years: list[str], entities: list[Entity]) -> str | None:
    """The LLM's reading of the shape, kept only when the question has what that shape
    needs (two years for a change, two counterparts for a comparison)."""
    reply = fold(stream(chat_model, [("system", SHAPE_PROMPT), ("human", question)]))
    kind = next((k for k in ("timeline", "change", "comparison") if re.search(rf"\b{k}\b", reply)), None)
    if (kind == "change" and len(years) < 2) or (kind == "comparison" and len(entities) < 2):
        return None
    return kind


def _topic(question: str, folded: str, kind: str) -> str:
    """The question without its shape words and period phrase. Folding keeps the length of
    NFC Vietnamese, so spans found in ``folded`` cut ``question`` at the same places."""
    if kind == "comparison":
        return question
    source = question if len(question) == len(folded) else folded
    spans = [m.span() for pattern in (_RANGE, _SHAPE_WORDS) for m in pattern.finditer(folded)]
    kept, position = [], 0
    for start, end in sorted(spans):
        if start >= position:
            kept.append(source[position:start])
            position = end
    kept.append(source[position:])
    topic = " ".join("".join(kept).replace("?", " ").split()).strip(" ,.-–")
    return topic or question


def entity_question(question: str, entity: Entity, others: list[Entity]) -> str:
    """The comparison asked about one counterpart: "What has Vietnam agreed with Japan
    and with Russia?" -> "What has Vietnam agreed with Japan?"."""
    folded = fold(question)
    source = question if len(question) == len(folded) else folded
    names = [form for e in [entity, *others] for form in e.forms]
    name = "(?:" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")"
    run = re.search(rf"\b{name}\b(?:\s*{_CONNECTOR}\s*(?:{_CONNECTOR}\s+)?{name}\b)+", folded)
    language = detect_language(question)
    display = {"en": entity.key.title(), "vi": entity.vietnamese}.get(language, fold(entity.vietnamese))
    if run:
        return " ".join((source[: run.start()] + display + source[run.end() :]).split())
    return f"{question} {display}"


# ------------------------------------------------------------------ answering
class TimelineReader:
    """Answers a question of a ``Shape``: one retrieval per period or counterpart."""

    def __init__(self, store: Store, embedder: Embedder, retriever: Retriever, chat_model=None, spec: str = ""):
        self.store = store
        self.embedder = embedder
        self.retriever = retriever
        self.extractive = ExtractiveReader(store, embedder)
        self.chat_model = chat_model
        self.spec = spec

    def answer(self, question: str, shape: Shape, k: int = 5, filters: Filters | None = None) -> Answer:
        language = detect_language(question)
        self.citations = Citations(ArticleReader(self.store, self.embedder))
        self.passages: list[Hit] = []
        timeline = comparison = None
        if shape.kind == "comparison":
            comparison = [self._side(question, e, [o for o in shape.entities if o is not e], filters, language) for e in shape.entities]
            groups = [(s.entity, s.points, s.note) for s in comparison]
        else:
            timeline = self._timeline(shape, filters, language)
            groups = [(p.date or _undated(language), p.points, p.note) for p in timeline]
        points = [p for _, ps, _ in groups for p in ps]
        if language == "en" and self.chat_model is not None:
            for p in points:  # each checked as the translate reader checks its quotes
                translate_quote(self.chat_model, p, self.citations.list[p.citations[0] - 1].date)
        answer = Answer(
            question, "", not points, language, self.citations.list, _unique(self.passages)[:k], sentences=points,
            reader=f"timeline ({self.spec})" if self.spec and self.chat_model else "timeline",
            evidence_language=evidence_language(language) if not (language == "en" and self.chat_model) else None,
        )
        answer.timeline, answer.comparison = timeline, comparison
        if points and self.chat_model is not None:
            answer.change = self._change(groups, language, shape.kind == "comparison")
        answer.answer = render(groups, answer.change) if points else ABSTAIN_MESSAGE["en" if language == "en" else "vi"]
        if not points:
            answer.note = " ".join(n for _, _, n in groups if n) or None
        return answer

    # ------------------------------------------------------------ periods
    def _timeline(self, shape: Shape, filters: Filters | None, language: str) -> list[Period]:
        vector, analysis = self.retriever.prepare(shape.topic)
        if shape.periods:
            return [self._period(shape, analysis, vector, p, filters, language) for p in shape.periods]
        # No year named: the periods are the dates of the articles whose sentences pass the gate.
        hits = self.retriever.search(shape.topic, k=CANDIDATE_PASSAGES, filters=filters, query_vector=vector, analysis=analysis)
        self.passages += hits
        selection = self.extractive.select(shape.topic, analysis, hits, vector)
        if selection.verdict.abstain:
            return [Period(None, None, None, [], selection.verdict.reason)]
        usable = self._about_any(selection.verdict.usable, shape.entities, selection.articles)
        if not usable:
            return [Period(None, None, None, [], _nothing(language))]
        close = [c for c in usable if c.score >= usable[0].score - DISCOVERY_MARGIN]
        dates = sorted({c.hit.chunk.date for c in close if c.hit.chunk.date})
        periods = [self._period(shape, analysis, vector, d, filters, language, fallback=close) for d in dates]
        if shape.kind == "timeline":  # an undated article still belongs to a timeline, last, said to be undated
            for doc_id in dict.fromkeys(c.hit.chunk.doc_id for c in close if not c.hit.chunk.date):
                periods.append(self._points(None, [c for c in close if c.hit.chunk.doc_id == doc_id], language))
        return [p for p in periods if p.points] or periods

    def _period(self, shape: Shape, analysis: QueryAnalysis, vector: np.ndarray, period: str, filters: Filters | None,
                language: str, fallback: list[Candidate] = ()) -> Period:
        """The points of one period, from passages of articles dated then."""
        topic = shape.topic
        within = replace(filters or Filters(), date_from=_later(period, filters), date_to=_earlier(period, filters))
        dated = replace(analysis, dates=[period])
        hits = self.retriever.search(topic, k=CANDIDATE_PASSAGES, filters=within, query_vector=vector, analysis=dated)
        self.passages += hits
        usable = []
        if hits:
            selection = self.extractive.select(topic, dated, hits, vector)
            usable = self._about_any(selection.verdict.usable, shape.entities, selection.articles)
        if not usable:
            usable = [c for c in fallback if c.hit.chunk.date == period]
        return self._points(period, usable, language)

    def _points(self, period: str | None, usable: list[Candidate], language: str) -> Period:
        usable = self._sentences(usable)
        if not usable:
            where = {"en": f"dated {period}", "vi": f"năm {period}" if period and len(period) == 4 else f"ngày {period}"}
            return Period(period, None, None, [], NO_EVIDENCE["en" if language == "en" else "vi"].format(
                where=where["en" if language == "en" else "vi"]))
        best = usable[0]
        chosen = [c for c in usable if c.hit.chunk.doc_id == best.hit.chunk.doc_id and c.score >= best.score - POINT_MARGIN]
        chunk = best.hit.chunk
        return Period(period or chunk.date, chunk.doc_id, chunk.title, self._cite(chosen))

    # -------------------------------------------------------- counterparts
    def _side(self, question: str, entity: Entity, others: list[Entity], filters: Filters | None, language: str) -> Side:
        asked = entity_question(question, entity, others)
        asked = _topic(asked, fold(asked), "side")  # without "compare", "so sánh": words no article holds
        vector, analysis = self.retriever.prepare(asked)
        hits = self.retriever.search(asked, k=CANDIDATE_PASSAGES, filters=filters, query_vector=vector, analysis=analysis)
        self.passages += hits
        selection = self.extractive.select(asked, analysis, hits, vector)
        usable = _titled([c for c in selection.verdict.usable if self._about(c, entity, others, selection.articles)], [entity])
        if not usable:
            message = {"en": f"No article says anything about this for {entity.name}.",
                       "vi": f"Không có bài viết nào nói về điều này với {entity.name}."}
            return Side(entity.name, [], note=message["en" if language == "en" else "vi"])
        usable = self._sentences(usable)
        chosen = [c for c in usable if c.score >= usable[0].score - POINT_MARGIN][:MAX_POINTS]
        return Side(entity.name, self._cite(chosen), list(dict.fromkeys(c.hit.chunk.doc_id for c in chosen)))

    def _about_any(self, usable: list[Candidate], entities: list[Entity], articles: ArticleReader) -> list[Candidate]:
        """The candidates about one of the counterparts the question names (all when it names none)."""
        if not entities:
            return usable
        others = [_entity(key) for key in _COUNTERPARTS if key not in {e.key for e in entities}]
        return _titled([c for c in usable if any(self._about(c, e, others, articles) for e in entities)], entities)

    @staticmethod
    def _about(c: Candidate, entity: Entity, others: list[Entity], articles: ArticleReader) -> bool:
        """A point about ``entity``: its sentence names it, or its article's title does and
        the sentence names no other counterpart (a Japan article's paragraph on Russia)."""
        sentence = articles.text(c.hit.chunk.doc_id)[c.span[0] : c.span[1]]
        if entity.mentioned_in(sentence):
            return True
        return entity.mentioned_in(c.hit.chunk.title) and not any(o.mentioned_in(sentence) for o in others)

    # ------------------------------------------------------------- shared
    def _sentences(self, usable: list[Candidate]) -> list[Candidate]:
        """Sentences before headings: a heading ("Tiếp tục thúc đẩy quan hệ …", no final
        stop) often reads closest to a topic, yet says nothing that happened."""
        def ends(c: Candidate) -> bool:
            return self.citations.articles.text(c.hit.chunk.doc_id)[c.span[0] : c.span[1]].rstrip().endswith(_STOPS)

        return [c for c in usable if ends(c)] or usable

    def _cite(self, chosen: list[Candidate]) -> list[AnswerSentence]:
        chosen = sorted(chosen[:MAX_POINTS], key=lambda c: (c.hit.chunk.doc_id, c.span[0]))
        return [self.citations.quote(c) for c in chosen]

    def _change(self, groups: list[tuple[str, list[AnswerSentence], str | None]], language: str, compare: bool = False) -> str | None:
        """One line on what changed, from the cited points only. Kept only when it cites
        points of two periods or more, cites no point that is not there, and states no
        number or date that no point states; else None (left out)."""
        lines = [f"{label}: " + " ".join(f"{p.text} [{p.citations[0]}]" for p in points) for label, points, _ in groups if points]
        if len(lines) < 2:
            return None
        target = "English" if language == "en" else "Vietnamese"
        what = "how the counterparts differ" if compare else "what changed from the first period to the last"
        prompt = (f"You compare points from news articles. Write ONE sentence in {target} that says {what}, "
                  "using only facts stated in the points. Put the [n] of its point after each fact. "
                  "Add no other facts, no opinions, no introduction.")
        reply = " ".join(stream(self.chat_model, [("system", prompt), ("human", "\n".join(lines))]).split())
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", reply)}
        period_of = {n: i for i, (_, points, _) in enumerate(groups) for p in points for n in p.citations}
        if not cited or not cited <= set(period_of) or len({period_of[n] for n in cited}) < 2:
            return None
        bare, source = re.sub(r"\[\d+\]", "", reply), re.sub(r"\[\d+\]", "", " ".join(lines))
        if not facts.numbers(bare) <= facts.numbers(source) or not facts.dates(bare, None, True) <= facts.dates(source, None, True):
            return None
        return reply


def render(groups: list[tuple[str, list[AnswerSentence], str | None]], change: str | None = None) -> str:
    """The answer as text: one line per period or counterpart, then what changed."""
    lines = []
    for label, points, note in groups:
        body = " ".join(p.cited() for p in points) if points else (note or "")
        lines.append(f"{label} — {body}")
    if change:
        lines.append(change)
    return "\n".join(lines)


def _titled(usable: list[Candidate], entities: list[Entity]) -> list[Candidate]:
    """The candidates from articles about the counterpart (its name in the title) when
    there are any: a passing paragraph on Russia in a page about Japan is weaker
    evidence than the articles about Russia."""
    return [c for c in usable if any(e.mentioned_in(c.hit.chunk.title) for e in entities)] or usable


def _nothing(language: str) -> str:
    return NO_EVIDENCE["en" if language == "en" else "vi"].format(where="" if language == "en" else "").replace("  ", " ")


def _undated(language: str) -> str:
    return "undated" if language == "en" else "không rõ ngày"


def _later(period: str, filters: Filters | None) -> str:
    """The period's start, or the user's --from when that is later."""
    return max(period, filters.date_from) if filters and filters.date_from else period


def _earlier(period: str, filters: Filters | None) -> str:
    if filters and filters.date_to and filters.date_to[: len(period)] <= period:
        return filters.date_to
    return period


def _unique(hits: list[Hit]) -> list[Hit]:
    seen, out = set(), []
    for h in sorted(hits, key=lambda h: -h.score):
        if h.chunk.chunk_id not in seen:
            seen.add(h.chunk.chunk_id)
            out.append(replace(h, rank=len(out) + 1))
    return out
