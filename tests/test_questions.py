"""Integrity of the evaluation question set (eval/questions.jsonl); no model needed.

The key check: every gold span is an exact substring of the *cleaned* text of one of
its gold documents, so a change to cleaning cannot silently break the set.
"""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from rag.clean import clean
from rag.load import load_path

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "questions.jsonl"
SEEDS = ROOT / "seeds"

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
MIN_QUESTIONS = 60
MIN_UNANSWERABLE = 6
MIN_PER_LANG = 15
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
def articles() -> dict[str, str]:
    """doc_id -> cleaned text, exactly as the system indexes it."""
    return {a.doc_id: a.text for a in (clean(r) for r in load_path(SEEDS))}


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
    assert not missing, f"seed articles with no question: {missing}"


def test_gold_docs_exist(questions, articles):
    bad = [f"{q['id']}: unknown doc {d!r}" for q in questions for d in q["gold_docs"] if d not in articles]
    assert not bad, "\n".join(bad)


def test_unanswerable_have_no_gold(questions):
    bad = [q["id"] for q in questions if q["unanswerable"] and (q["gold_docs"] or q["gold_spans"] or q["answer_all"])]
    assert not bad, f"unanswerable questions must have empty gold_docs, gold_spans and answer_all: {bad}"


def test_answerable_have_gold(answerable):
    bad = [f"{q['id']}: gold_docs={len(q['gold_docs'])} gold_spans={len(q['gold_spans'])} answer_all={len(q['answer_all'])}"
           for q in answerable if not (q["gold_docs"] and q["gold_spans"] and q["answer_all"])]
    assert not bad, "answerable questions need >= 1 gold doc, span and answer group:\n" + "\n".join(bad)


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
