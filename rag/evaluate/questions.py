"""Evaluate retrieval and answers against a JSONL question file.

Why a question file and not only XQuAD: XQuAD paragraphs are encyclopedic and
self-contained, while the system is for news, where the evidence is one sentence in a
long article, dates matter and questions come in English, Vietnamese and Vietnamese
typed without marks. Each line of the file is::

    {"id": "q01", "question": "...", "lang": "en" | "vi" | "vi-nodiac",
     "gold_docs": ["928598893a65ddec"], "gold_spans": ["exact substring of the cleaned text"],
     "answer_all": [["51.000", "51,000"], ["lưu học sinh", "students"]], "unanswerable": false}

Relevance of a chunk follows ``rag.evaluate.metrics`` (overlap with a gold span of a
gold document); a question with gold documents but no spans counts every chunk of its
gold documents as relevant. Retrieval metrics are over answerable questions only.

Answer metrics use ``rag.ask`` with its defaults (hybrid retrieval):

- accuracy: share of answerable questions answered correctly (``answer_all``); an
  abstention counts as wrong. Without ``answer_all``, a non-abstained answer with a
  relevant citation counts as correct.
- abstention precision / recall: positive class = the system abstained; the truth is
  ``unanswerable``. Undefined (null) when there is nothing to divide by.
- citation precision: share of the citations given for answerable questions whose
  passage is relevant; citation coverage: share of correct answers with at least one
  relevant citation.
- language match: share of answers written in the question's language (English for
  "en", Vietnamese for "vi" and "vi-nodiac").
- wrong-year citations: over answered questions that name a year
  (``rag.dates.query_dates``; a period "2020 - 2025" names each of its years), the citations whose article is dated in a year the
  question does not ask (undated articles are not counted); a count and a rate over
  those questions' citations. The goal is zero.
- whole-sentence quotes: share of the quoted pieces of all citations of answered
  questions that are whole sentences of the article (``rag.text.split_sentences`` of
  its cleaned text, read from the index here rather than trusted from the answer).
- latency p50/p95 in ms of ``rag.search`` (the default configuration) and of
  ``rag.ask``, after one untimed warm-up question.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag.dates import query_dates
from rag.evaluate import metrics as m
from rag.evaluate.timeline import check_periods, period_row, timeline_summary
from rag.text import detect_language, has_vietnamese_marks, split_sentences

if TYPE_CHECKING:
    from rag.pipeline import RAG
    from rag.read import Citation

# Retrieval configurations: a name -> the keyword arguments of ``RAG.search``.
CONFIGS: dict[str, dict] = {
    "hybrid": {"mode": "hybrid"},
    "dense": {"mode": "dense"},
    "bm25": {"mode": "bm25"},
    "rrf": {"mode": "rrf"},
    "hybrid-nodate": {"mode": "hybrid", "use_dates": False},
    "hybrid-nolex": {"mode": "hybrid", "lexical_weight": 0.0},
}
DEFAULT_CONFIG = "hybrid"
LANGS = ("en", "vi", "vi-nodiac")
KS = (1, 3, 5, 10)
RETRIEVAL_METRICS = tuple(f"R@{k}" for k in KS) + ("MRR", "nDCG@10")

Progress = Callable[[int, int], None]
# doc_id -> (cleaned text, its sentence spans), or None for an article not in the index.
SentenceCache = dict[str, tuple[str, list[tuple[int, int]]] | None]


class QuestionFileError(ValueError):
    """A question file that cannot be used; the message names the file and line."""


@dataclass
class Question:
    id: str
    question: str
    lang: str
    gold_docs: list[str] = field(default_factory=list)
    gold_spans: list[str] = field(default_factory=list)
    answer_all: list[list[str]] = field(default_factory=list)
    unanswerable: bool = False
    periods: list[dict] = field(default_factory=list)  # timeline and comparison questions (rag.evaluate.timeline)


def parse_configs(names: str | Iterable[str]) -> list[str]:
    """``"dense,bm25"`` or a list -> validated config names, in order, without repeats."""
    items = names.split(",") if isinstance(names, str) else list(names)
    chosen = list(dict.fromkeys(n.strip() for n in items if n.strip()))
    unknown = [n for n in chosen if n not in CONFIGS]
    if unknown or not chosen:
        raise ValueError(f"unknown retrieval configuration {', '.join(unknown) or '(none)'}; use some of {', '.join(CONFIGS)}")
    return chosen


def primary_config(configs: Sequence[str]) -> str:
    """The configuration whose ranks, retrieved passages and latency are reported per question."""
    return DEFAULT_CONFIG if DEFAULT_CONFIG in configs else configs[0]


# ------------------------------------------------------------------ loading
def load_questions(path: str | Path) -> list[Question]:
    path = Path(path)
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionFileError(f"{path}: cannot read the question file ({exc})") from exc
    questions: list[Question] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{where}: invalid JSON ({exc.msg})") from exc
        q = _question(record, where)
        if q.id in seen:
            raise QuestionFileError(f"{where}: duplicate id '{q.id}'")
        seen.add(q.id)
        questions.append(q)
    if not questions:
        raise QuestionFileError(f"{path}: no questions in this file")
    return questions


def _question(record: object, where: str) -> Question:
    if not isinstance(record, dict):
        raise QuestionFileError(f"{where}: each line must be a JSON object")
    text = record.get("question")
    if not isinstance(text, str) or not text.strip():
        raise QuestionFileError(f"{where}: \"question\" must be a non-empty string")
    lang = record.get("lang") or detect_language(text)
    if lang not in LANGS:
        raise QuestionFileError(f"{where}: \"lang\" must be one of {', '.join(LANGS)}, not {lang!r}")

    def strings(key: str) -> list[str]:
        value = record.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise QuestionFileError(f"{where}: \"{key}\" must be a list of strings")
        return value

    groups = record.get("answer_all") or []
    if not isinstance(groups, list):
        raise QuestionFileError(f"{where}: \"answer_all\" must be a list of lists of alternatives")
    groups = [[g] if isinstance(g, str) else g for g in groups]
    if not all(isinstance(g, list) and all(isinstance(a, str) for a in g) for g in groups):
        raise QuestionFileError(f"{where}: \"answer_all\" must be a list of lists of alternatives")
    try:
        periods = check_periods(record.get("periods"), where)
    except ValueError as exc:
        raise QuestionFileError(str(exc)) from exc
    gold_docs = strings("gold_docs") or list(dict.fromkeys(d for p in periods for d in p["gold_docs"]))
    q = Question(
        id=str(record.get("id") or where.rsplit(":", 1)[-1]),
        question=text,
        lang=lang,
        gold_docs=gold_docs,
        gold_spans=strings("gold_spans"),
        answer_all=groups,
        unanswerable=bool(record.get("unanswerable", False)),
        periods=periods,
    )
    if not q.unanswerable and not q.gold_docs:
        raise QuestionFileError(f"{where}: an answerable question needs \"gold_docs\"")
    return q


# ---------------------------------------------------------------- relevance
def relevant_chunks(rag: RAG, q: Question, warnings: list[str]) -> set[str]:
    """Chunk ids of the index that are relevant to ``q`` (empty for unanswerable)."""
    if q.unanswerable:
        return set()
    relevant: set[str] = set()
    found_spans: set[str] = set()
    for doc_id in q.gold_docs:
        article = rag.article(doc_id)
        if article is None:
            warnings.append(f"{q.id}: gold document {doc_id} is not in the index")
            continue
        chunks = rag.store.chunks_of(doc_id)
        if not q.gold_spans:
            relevant.update(c.chunk_id for c in chunks)
            continue
        intervals = []
        for span in q.gold_spans:
            located = m.locate_span(article.text, span)
            if located:
                intervals.append(located)
                found_spans.add(span)
        relevant.update(c.chunk_id for c in chunks if m.chunk_relevant((c.start, c.end), intervals))
    for span in q.gold_spans:
        if span not in found_spans:
            warnings.append(f"{q.id}: gold span not found in its gold documents: {span[:80]!r}")
    return relevant


# --------------------------------------------------------------- evaluation
def evaluate_questions(
    rag: RAG,
    questions_path: str | Path,
    k: int = 10,
    configs: Sequence[str] = (DEFAULT_CONFIG,),
    progress: Progress | None = None,
    limit: int | None = None,
) -> dict:
    """Every figure for the questions in ``questions_path`` (the first ``limit``) over
    the open ``rag``: the metrics.json object. ``progress(done, total)`` after each."""
    configs = parse_configs(configs)
    primary = primary_config(configs)
    questions = load_questions(questions_path)[:limit]
    depth = max(k, max(KS))
    warnings: list[str] = []
    started = time.time()
    _warm_up(rag, questions[0].question, k)
    rows = []
    sentences: SentenceCache = {}
    if progress:
        progress(0, len(questions))
    for done, q in enumerate(questions, 1):
        rows.append(_evaluate_one(rag, q, configs, primary, k, depth, warnings, sentences))
        if progress:
            progress(done, len(questions))
    answerable = [r for r in rows if not r["unanswerable"]]
    result = {
        "configs": {name: breakdown(answerable, lambda rows, n=name: retrieval_summary(rows, n)) for name in configs},
        "answers": breakdown(rows, answer_summary),
        "latency_ms": latency_summary(rows),
        **({"timeline": breakdown([r for r in rows if r.get("periods")], timeline_summary)} if any(q.periods for q in questions) else {}),
        "questions": [_public_row(r) for r in rows],
        "meta": {
            "kind": "questions",
            "questions_path": str(questions_path),
            "n_questions": len(rows),
            "n_answerable": len(answerable),
            "k": k,
            "configs": list(configs),
            "default_config": primary,
            "index": index_meta(rag),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "duration_s": round(time.time() - started, 1),
            "warnings": warnings,
        },
    }
    return round_floats(result)


def _warm_up(rag: RAG, question: str, k: int) -> None:
    """One untimed pass, so lazy initialisation does not land in the latency figures."""
    rag.search(question, k=k)
    rag.ask(question, k=k)


def _evaluate_one(rag: RAG, q: Question, configs: Sequence[str], primary: str, k: int, depth: int, warnings: list[str],
                  sentences: SentenceCache) -> dict:
    relevant = relevant_chunks(rag, q, warnings)
    row: dict = {"q": q, "id": q.id, "lang": q.lang, "unanswerable": q.unanswerable, "n_relevant": len(relevant), "ranking": {}}
    for name in configs:
        started = time.perf_counter()
        hits = rag.search(q.question, k=depth, **CONFIGS[name])
        elapsed = (time.perf_counter() - started) * 1000
        flags = [h.chunk.chunk_id in relevant for h in hits]
        row["ranking"][name] = flags
        if name == primary:
            row["retrieval_ms"] = elapsed
            row["retrieved"] = [
                {"rank": h.rank, "doc_id": h.chunk.doc_id, "chunk_id": h.chunk.chunk_id, "title": h.chunk.title,
                 "score": h.score, "text": h.chunk.text, "relevant": flag}
                for h, flag in zip(hits[:k], flags[:k], strict=True)
            ]
    started = time.perf_counter()
    answer = rag.ask(q.question, k=k)
    row["answer_ms"] = (time.perf_counter() - started) * 1000
    cited = [c.chunk_id in relevant for c in answer.citations]
    if q.unanswerable:
        correct = answer.abstained
    elif q.answer_all:
        correct = not answer.abstained and m.answer_correct(answer_sentences(answer.answer), q.answer_all)
    else:
        correct = not answer.abstained and any(cited)
    row.update(answer=answer.answer, abstained=answer.abstained, detected_lang=answer.language, correct=correct,
               citations=[c.chunk_id for c in answer.citations], citation_relevant=cited,
               n_sentences=len(answer.sentences), unsupported=sum(not s.supported for s in answer.sentences),
               translated=sum(s.original is not None for s in answer.sentences),
               translations_kept=sum(s.original is not None and not s.flags for s in answer.sentences),
               language_match=None if answer.abstained else answer_language(answer.answer) == ("en" if q.lang == "en" else "vi"))
    row.update(citation_trust(rag, q.question, [] if answer.abstained else answer.citations, sentences))
    if q.periods:
        row["periods"] = period_row(q.periods, answer, {c.doc_id: c.date for c in answer.citations})
    return row


# Share of an answer's words with Vietnamese diacritics at which it reads as Vietnamese.
# A name kept in an English sentence ("Ngã Tư Vọng", "Trần Thanh Mẫn") is a few words of
# fifteen; a Vietnamese sentence has marks on most of its words.
VIETNAMESE_WORD_SHARE = 0.3


def answer_language(text: str) -> str:
    """'en' or 'vi': what an answer is written in."""
    tokens = re.findall(r"[^\W\d_]+", re.sub(r"\[\d+\]", " ", text))
    if not tokens:
        return "en" if detect_language(text) == "en" else "vi"
    marked = sum(has_vietnamese_marks(t) for t in tokens)
    return "vi" if marked >= VIETNAMESE_WORD_SHARE * len(tokens) or detect_language(text) == "vi-nodiac" else "en"


def citation_trust(rag: RAG, question: str, citations: Sequence[Citation], sentences: SentenceCache) -> dict:
    """Per-question counts behind the wrong-year and whole-sentence figures (see the
    module docstring): ``year_citations`` is None when the question names no year."""
    years = m.asked_years(query_dates(question), question)
    wrong = sum(m.wrong_year(c.date, years) for c in citations) if years else None
    quotes = whole = 0
    for c in citations:
        if c.doc_id not in sentences:
            article = rag.article(c.doc_id)
            sentences[c.doc_id] = (article.text, split_sentences(article.text)) if article else None
        if sentences[c.doc_id] is None:
            continue  # not in the index any more: nothing to check the quote against
        text, spans = sentences[c.doc_id]
        for s, e in c.quote_spans:
            quotes += 1
            whole += m.whole_sentence(text, c.start + s, c.start + e, spans)
    return {"year_citations": len(citations) if years else None, "wrong_year_citations": wrong,
            "quotes": quotes, "whole_quotes": whole,
            "citation_dates": [c.date for c in citations]}


def answer_sentences(answer: str) -> str:
    """The sentences of an answer without their ``[n]`` markers (so that an expected
    "1" is not found in "[1]")."""
    return " ".join(re.sub(r"\s*\[\d+\]", " ", answer).split())


def _public_row(row: dict) -> dict:
    q: Question = row["q"]
    return {
        "id": q.id,
        "question": q.question,
        "lang": q.lang,
        "detected_lang": row["detected_lang"],
        "unanswerable": q.unanswerable,
        "gold_docs": q.gold_docs,
        "first_relevant_rank": {name: m.first_relevant_rank(flags) for name, flags in row["ranking"].items()},
        "n_relevant": row["n_relevant"],
        "correct": row["correct"],
        "abstained": row["abstained"],
        "answer": row["answer"],
        "citations": row["citations"],
        "citation_relevant": row["citation_relevant"],
        "unsupported_sentences": row["unsupported"],
        "language_match": row["language_match"],
        "citation_dates": row["citation_dates"],
        "wrong_year_citations": row["wrong_year_citations"],
        "whole_sentence_quotes": m.ratio(row["whole_quotes"], row["quotes"]),
        "retrieved": row["retrieved"],
        "retrieval_ms": row["retrieval_ms"],
        "answer_ms": row["answer_ms"],
        **({"periods": row["periods"]} if row.get("periods") else {}),
    }


# ---------------------------------------------------------------- summaries
def retrieval_summary(rows: Sequence[dict], config: str) -> dict:
    rankings = [r["ranking"][config] for r in rows]
    out: dict = {f"R@{k}": m.mean(m.recall_at_k(f, k) for f in rankings) for k in KS}
    out["MRR"] = m.mean(m.reciprocal_rank(f) for f in rankings)
    out["nDCG@10"] = m.mean(m.ndcg_at_k(f, 10, r["n_relevant"]) for f, r in zip(rankings, rows, strict=True))
    out["n"] = len(rows)
    return out


def answer_summary(rows: Sequence[dict]) -> dict:
    answerable = [r for r in rows if not r["unanswerable"]]
    unanswerable = [r for r in rows if r["unanswerable"]]
    abstained = [r for r in rows if r["abstained"]]
    correct = [r for r in answerable if r["correct"]]
    answered = [r for r in rows if not r["abstained"]]
    citations = [flag for r in answerable for flag in r["citation_relevant"]]
    return {
        "accuracy": m.ratio(len(correct), len(answerable)),
        "abstention_precision": m.ratio(sum(r["unanswerable"] for r in abstained), len(abstained)),
        "abstention_recall": m.ratio(sum(r["abstained"] for r in unanswerable), len(unanswerable)),
        "citation_precision": m.ratio(sum(citations), len(citations)),
        "citation_coverage": m.ratio(sum(any(r["citation_relevant"]) for r in correct), len(correct)),
        # Generated answers: share of answer sentences no passage supports, and share of
        # answers written in the question's language (extractive answers quote Vietnamese).
        "unsupported_rate": m.ratio(sum(r["unsupported"] for r in answered), sum(r["n_sentences"] for r in answered)),
        "language_match": m.ratio(sum(bool(r["language_match"]) for r in answered), len(answered)),
        # Translate mode: share of translated sentences whose numbers, dates and names all
        # survived (rag.read.facts); the others are shown in the original, flagged.
        "translations_kept": m.ratio(sum(r["translations_kept"] for r in answered), sum(r["translated"] for r in answered)),
        # Trust in the citations: counted over answered questions (abstentions cite nothing).
        "wrong_year_citations": sum(r["wrong_year_citations"] or 0 for r in answered),
        "wrong_year_rate": m.ratio(sum(r["wrong_year_citations"] or 0 for r in answered),
                                   sum(r["year_citations"] or 0 for r in answered)),
        "whole_sentence_quotes": m.ratio(sum(r["whole_quotes"] for r in answered), sum(r["quotes"] for r in answered)),
        "n": len(rows),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unanswerable),
        "n_year_questions": sum(r["year_citations"] is not None for r in answered),
        "n_year_citations": sum(r["year_citations"] or 0 for r in answered),
    }


def latency_summary(rows: Sequence[dict]) -> dict:
    retrieval = [r["retrieval_ms"] for r in rows]
    answer = [r["answer_ms"] for r in rows if r.get("answer_ms") is not None]
    return {
        "retrieval_p50": m.percentile(retrieval, 50),
        "retrieval_p95": m.percentile(retrieval, 95),
        "answer_p50": m.percentile(answer, 50),
        "answer_p95": m.percentile(answer, 95),
    }


def breakdown(rows: Sequence[dict], summarise: Callable[[Sequence[dict]], dict]) -> dict:
    """``{"overall": ..., "by_lang": {lang: ...}}`` for the languages present."""
    langs = [lang for lang in LANGS if any(r["lang"] == lang for r in rows)]
    return {"overall": summarise(rows), "by_lang": {lang: summarise([r for r in rows if r["lang"] == lang]) for lang in langs}}


def index_meta(rag: RAG) -> dict:
    stats = rag.stats()
    return {"store": stats["store"], "articles": stats["articles"], "chunks": stats["chunks"],
            "embedder": stats["embedder"]}


def round_floats(value: object, digits: int = 4) -> object:
    """Floats rounded for reading; structure unchanged."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {key: round_floats(v, digits) for key, v in value.items()}
    if isinstance(value, list):
        return [round_floats(v, digits) for v in value]
    return value
