"""Integrity of the evaluation question set (eval/questions.jsonl); no model needed.

The key check: every gold span is an exact substring of the *cleaned* text of one of
its gold documents, so a change to cleaning cannot silently break the set. Gold
documents are the seed articles and the uploaded-article fixtures in eval/articles/
(written for the tests; the set is evaluated over an index of both).
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from rag.clean import Article, clean
from rag.dates import query_dates
from rag.load import load_path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "questions.jsonl"
SEEDS = ROOT / "seeds"
# Only the .txt files: the folder's README.md documents the fixtures and is no article.
ARTICLES = sorted((ROOT / "eval" / "articles").glob("*.txt"))

LANGS = ("en", "vi", "vi-nodiac")
KEY_TYPES = {
    "id": str,
    "question": str,
    "lang": str,
    "gold_docs": list,
    "gold_spans": list,
    "answer_all": list,
    "unanswerable": bool,
}
MIN_QUESTIONS = 160
MIN_UNANSWERABLE = 24
MIN_PER_LANG = 45
# Hard cases of the issue "Answers a reader can trust", by id prefix after the language.
MIN_YEAR_CONTRAST = 16  # "-yc-": the same question for two years
MIN_NEAR_MISS = 12  # "-nm-": topic present, asked fact absent (unanswerable)
MIN_NEAR_MISS_EN = 5
MIN_ON_UPLOADS = 6  # answerable from eval/articles/, per language
MAX_SPAN_CHARS = 300


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", text).casefold()


def _load_questions() -> list[dict]:
    rows = []
    with QUESTIONS.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AssertionError(f"{QUESTIONS.name} line {lineno}: not valid JSON ({exc})") from exc
            assert isinstance(row, dict), f"{QUESTIONS.name} line {lineno}: not a JSON object"
            rows.append(row)
    return rows


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return _load_questions()


@pytest.fixture(scope="module")
def answerable(questions) -> list[dict]:
    return [q for q in questions if not q["unanswerable"]]


@pytest.fixture(scope="module")
def cleaned() -> list[Article]:
    """The seeds and the fixtures, cleaned exactly as the system indexes them."""
    return [clean(r) for r in load_path(SEEDS) + [r for path in ARTICLES for r in load_path(path)]]


@pytest.fixture(scope="module")
def articles(cleaned) -> dict[str, str]:
    """doc_id -> cleaned text."""
    return {a.doc_id: a.text for a in cleaned}


@pytest.fixture(scope="module")
def dated_articles(cleaned) -> dict[str, str | None]:
    """doc_id -> publication date (ISO) or None."""
    return {a.doc_id: a.date for a in cleaned}


@pytest.fixture(scope="module")
def seed_ids() -> set[str]:
    return {clean(r).doc_id for r in load_path(SEEDS)}


def test_every_line_has_all_keys_with_right_types(questions):
    problems = []
    for i, q in enumerate(questions, 1):
        qid = q.get("id", f"<line {i}>")
        missing = sorted(set(KEY_TYPES) - set(q))
        if missing:
            problems.append(f"{qid}: missing keys {missing}")
            continue
        for key, typ in KEY_TYPES.items():
            if not isinstance(q[key], typ):
                problems.append(f"{qid}: {key} should be {typ.__name__}, got {type(q[key]).__name__}")
        if not q["question"].strip():
            problems.append(f"{qid}: empty question")
        for key in ("gold_docs", "gold_spans"):
            if isinstance(q[key], list) and not all(isinstance(x, str) and x for x in q[key]):
                problems.append(f"{qid}: {key} must hold non-empty strings")
        if isinstance(q["answer_all"], list):
            for group in q["answer_all"]:
                if not (isinstance(group, list) and group and all(isinstance(a, str) and a.strip() for a in group)):
                    problems.append(f"{qid}: answer group {group!r} must be a non-empty list of non-empty strings")
    assert not problems, "\n".join(problems)


def test_ids_unique(questions):
    dupes = [i for i, n in Counter(q["id"] for q in questions).items() if n > 1]
    assert not dupes, f"duplicate ids: {dupes}"


def test_langs_valid_and_balanced(questions):
    bad = [f"{q['id']}: lang {q['lang']!r}" for q in questions if q["lang"] not in LANGS]
    assert not bad, "\n".join(bad)
    counts = Counter(q["lang"] for q in questions)
    short = {lang: counts[lang] for lang in LANGS if counts[lang] < MIN_PER_LANG}
    assert not short, f"fewer than {MIN_PER_LANG} questions for {short}"


def test_nodiac_questions_are_plain_lowercase_ascii(questions):
    bad = [f"{q['id']}: {q['question']!r}" for q in questions
           if q["lang"] == "vi-nodiac" and not (q["question"].isascii() and q["question"] == q["question"].lower())]
    assert not bad, "vi-nodiac questions must be lower-case ASCII:\n" + "\n".join(bad)


def test_enough_questions(questions):
    assert len(questions) >= MIN_QUESTIONS, f"{len(questions)} questions, need >= {MIN_QUESTIONS}"
    n_unans = sum(q["unanswerable"] for q in questions)
    assert n_unans >= MIN_UNANSWERABLE, f"{n_unans} unanswerable questions, need >= {MIN_UNANSWERABLE}"


def test_every_seed_is_a_gold_doc(questions, articles):
    used = {d for q in questions for d in q["gold_docs"]}
    missing = sorted(set(articles) - used)
    assert not missing, f"seed or fixture articles with no question: {missing}"


def test_fixture_articles_exist_and_are_dated(dated_articles, seed_ids):
    assert len(ARTICLES) >= 2, "eval/articles/ holds the uploaded-article fixtures"
    fixtures = {d: date for d, date in dated_articles.items() if d not in seed_ids}
    assert len(fixtures) == len(ARTICLES), "each fixture is one new article"
    assert all(fixtures.values()), f"every fixture has a publication date: {fixtures}"


def _kind(q: dict) -> str:
    """"yc" for "en-yc-…" / "vi-nd-yc-…", "nm" for near-misses, else the next id part."""
    parts = q["id"].split("-")
    return parts[2] if parts[:2] == ["vi", "nd"] else parts[1]


def test_hard_cases_present_in_every_language(questions, seed_ids):
    counts = Counter(_kind(q) for q in questions)
    assert counts["yc"] >= MIN_YEAR_CONTRAST, f"{counts['yc']} year-contrast questions"
    near = [q for q in questions if _kind(q) == "nm"]
    assert len(near) >= MIN_NEAR_MISS and all(q["unanswerable"] for q in near), "near-misses are unanswerable"
    assert sum(q["lang"] == "en" for q in near) >= MIN_NEAR_MISS_EN
    for lang in LANGS:
        in_lang = [q for q in questions if q["lang"] == lang]
        assert any(_kind(q) == "yc" for q in in_lang), f"no year-contrast question in {lang}"
        assert any(_kind(q) == "nm" for q in in_lang), f"no near-miss in {lang}"
        on_uploads = [q for q in in_lang if q["gold_docs"] and not set(q["gold_docs"]) & seed_ids]
        assert len(on_uploads) >= MIN_ON_UPLOADS, f"{len(on_uploads)} {lang} questions on eval/articles/"


def test_year_contrast_gold_is_from_the_year_asked(questions, dated_articles):
    """A year-contrast question's dated gold article is from a year the question names:
    quoting the other year's article is the error these questions catch."""
    problems = []
    for q in (q for q in questions if _kind(q) == "yc"):
        years = {d[:4] for d in query_dates(q["question"])}
        assert years, f"{q['id']}: a year-contrast question names a year"
        for doc in q["gold_docs"]:
            date = dated_articles.get(doc)
            if date and date[:4] not in years:
                problems.append(f"{q['id']}: gold {doc} is from {date}, the question asks {sorted(years)}")
    assert not problems, "\n".join(problems)


def test_gold_docs_exist(questions, articles):
    bad = [f"{q['id']}: unknown doc {d!r}" for q in questions for d in q["gold_docs"] if d not in articles]
    assert not bad, "\n".join(bad)


def test_unanswerable_have_no_gold(questions):
    bad = [q["id"] for q in questions if q["unanswerable"] and (q["gold_docs"] or q["gold_spans"] or q["answer_all"])]
    assert not bad, f"unanswerable questions must have empty gold_docs, gold_spans and answer_all: {bad}"


def test_answerable_have_gold(answerable):
    bad = [f"{q['id']}: gold_docs={len(q['gold_docs'])} gold_spans={len(q['gold_spans'])} answer_all={len(q['answer_all'])}"
           for q in answerable if not (q["gold_docs"] and q["gold_spans"] and q["answer_all"]) and not q.get("periods")]
    assert not bad, "answerable questions need >= 1 gold doc, span and answer group:\n" + "\n".join(bad)


def test_timeline_questions_have_a_known_gold_article_per_period(questions, articles):
    """Timeline and comparison questions (rag.evaluate.timeline) name the gold articles of
    each period instead of spans; their gold_docs are the periods' union."""
    timeline = [q for q in questions if q.get("periods")]
    assert len(timeline) >= 15 and all(sum(q["lang"] == lang for q in timeline) >= 5 for lang in LANGS)
    for q in timeline:
        docs = [d for p in q["periods"] for d in p["gold_docs"]]
        assert docs and all(d in articles for d in docs), q["id"]
        assert sorted(set(docs)) == sorted(q["gold_docs"]), q["id"]
        assert all(("date" in p) != ("entity" in p) for p in q["periods"]), q["id"]


def test_gold_spans_are_exact_substrings_of_cleaned_text(answerable, articles):
    problems = []
    for q in answerable:
        for span in q["gold_spans"]:
            if not any(span in articles.get(d, "") for d in q["gold_docs"]):
                problems.append(f"{q['id']}: span not in cleaned text of {q['gold_docs']}: {span!r}")
    assert not problems, "\n".join(problems)


def test_gold_spans_are_short_single_lines(answerable):
    problems = []
    for q in answerable:
        for span in q["gold_spans"]:
            if "\n" in span or span != span.strip() or len(span) > MAX_SPAN_CHARS:
                problems.append(f"{q['id']}: span must be one trimmed line of <= {MAX_SPAN_CHARS} chars: {span!r}")
    assert not problems, "\n".join(problems)


def test_answer_groups_are_findable_in_gold_docs(answerable, articles):
    problems = []
    for q in answerable:
        text = " ".join(_norm(articles.get(d, "")) for d in q["gold_docs"])
        for group in q["answer_all"]:
            if not any(_norm(a) in text for a in group):
                problems.append(f"{q['id']}: no alternative of answer group {group!r} occurs in {q['gold_docs']}")
    assert not problems, "\n".join(problems)


def test_answer_groups_are_found_in_some_gold_span(answerable):
    problems = []
    for q in answerable:
        spans = [_norm(s) for s in q["gold_spans"]]
        for group in q["answer_all"]:
            if not any(_norm(a) in s for a in group for s in spans):
                problems.append(f"{q['id']}: answer group {group!r} is in none of the spans {q['gold_spans']!r}")
    assert not problems, "\n".join(problems)


def test_required_questions_present(questions):
    by_id = {q["id"]: q for q in questions}
    q21 = by_id.get("en-russia-2021")
    assert q21 is not None, "en-russia-2021 is missing"
    assert q21["question"] == "What did Vietnam and Russia agree in 2021?"
    assert q21["gold_docs"] == ["2984af66f89cc659"]
    assert any("trao đổi đoàn các cấp" in s for s in q21["gold_spans"]), "en-russia-2021: span must list the agreed areas"
    qs = by_id.get("vi-students-japan")
    assert qs is not None, "vi-students-japan is missing"
    assert qs["question"] == "Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?"
    assert any("51.000" in alt for group in qs["answer_all"] for alt in group)


HELD_OUT = ROOT / "eval" / "heldout_en.jsonl"


def test_the_held_out_english_set_is_sound(articles):
    """eval/heldout_en.jsonl: 40 English questions written by someone who saw only the
    cleaned articles (neither the question set nor rag/glossary.py); never tuned on."""
    rows = [json.loads(line) for line in HELD_OUT.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) == 40 and len({r["id"] for r in rows}) == 40
    assert sum(r["unanswerable"] for r in rows) == 10 and all(r["lang"] == "en" for r in rows)
    for r in rows:
        if r["unanswerable"]:
            assert not (r["gold_docs"] or r["gold_spans"] or r["answer_all"]), r["id"]
        else:
            assert r["answer_all"] and r["gold_spans"], r["id"]
            assert all(any(span in articles[d] for d in r["gold_docs"]) for span in r["gold_spans"]), r["id"]
