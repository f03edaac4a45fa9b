"""Timeline and comparison answers (rag.read.timeline) through the library, the CLI, the
evaluation and the app (AppTest), on the real seed index with the real embedder. Seeds:
2984af66f89cc659 is the Vietnam–Russia defence article of 2021-12-02, 2fda3e61c4dbe223
the one of 2024-08-14; 928598893a65ddec and 24bbc7acd39ad745 are the (undated) Japan pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag import cli
from rag.evaluate.questions import QuestionFileError, evaluate_questions, load_questions
from rag.read.timeline import question_shape
from rag.text import split_sentences
from tests.conftest import EXAMPLES

ROOT = Path(__file__).resolve().parent.parent
RUSSIA_2021, RUSSIA_2024 = "2984af66f89cc659", "2fda3e61c4dbe223"
JAPAN = {"928598893a65ddec", "24bbc7acd39ad745"}

CHANGE = [
    "How did Vietnam–Russia defence cooperation change between 2021 and 2024?",
    "Hợp tác quốc phòng Việt Nam – Nga thay đổi thế nào từ 2021 đến 2024?",
    "hop tac quoc phong viet nam – nga thay doi the nao tu 2021 den 2024?",
]
COMPARE = [
    "What has Vietnam agreed with Japan and with Russia?",
    "Việt Nam đã thỏa thuận những gì với Nhật Bản và với Nga?",
    "viet nam da thoa thuan nhung gi voi nhat ban va voi nga?",
    "So sánh hợp tác quốc phòng của Việt Nam với Nhật Bản và Nga",
]
WHEN = [
    "When did Vietnam's defence minister meet his Russian counterpart?",
    "Bộ trưởng Quốc phòng Việt Nam gặp người đồng cấp Nga khi nào?",
    "bo truong quoc phong viet nam gap nguoi dong cap nga khi nao?",
]
TIMELINE = [
    "Timeline of Vietnam–Japan defence cooperation",
    "Dòng thời gian hợp tác quốc phòng Việt Nam – Nhật Bản",
    "dong thoi gian hop tac quoc phong viet nam - nhat ban",
]
EMPTY_2019 = [
    "How did Vietnam–Russia defence cooperation change between 2019 and 2021?",
    "Hợp tác quốc phòng Việt Nam – Nga thay đổi thế nào từ 2019 đến 2021?",
    "hop tac quoc phong viet nam - nga thay doi the nao tu 2019 den 2021?",
]


def cited_docs(answer, points) -> set[str]:
    docs = {c.n: c.doc_id for c in answer.citations}
    return {docs[n] for p in points for n in p.citations}


def assert_whole_sentences(seed_rag, answer, points) -> None:
    """Every point is a whole sentence of the article it cites."""
    by_n = {c.n: c for c in answer.citations}
    for p in points:
        text = seed_rag.article(by_n[p.citations[0]].doc_id).text
        assert p.text in {text[s:e] for s, e in split_sentences(text)}, p.text


@pytest.mark.parametrize(
    ("question", "kind"),
    [(q, "change") for q in CHANGE] + [(q, "comparison") for q in COMPARE] + [(q, "when") for q in WHEN]
    + [(q, "timeline") for q in TIMELINE] + [(q, None) for q in EXAMPLES]
    + [("When did Vietnam and the EU sign the FPA?", None), ("Cầu vượt Ngã Tư Vọng dài bao nhiêu mét?", None)],
)
def test_question_shapes_in_three_language_forms(question, kind):
    shape = question_shape(question)
    assert (shape.kind if shape else None) == kind


def test_comparison_counterparts_are_named_in_order():
    assert [e.key for e in question_shape(COMPARE[0]).entities] == ["japan", "russia"]
    assert [e.key for e in question_shape(COMPARE[2]).entities] == ["japan", "russia"]
    # "Ngã Tư Vọng" (a crossroads) is not Russia ("Nga"), with or without marks.
    assert question_shape("Cầu vượt Ngã Tư Vọng thay đổi thế nào từ 2023 đến 2025?").entities == []
    assert question_shape("cau vuot nga tu vong thay doi the nao tu 2023 den 2025?").entities == []


@pytest.mark.parametrize("question", CHANGE)
def test_change_between_2021_and_2024_cites_each_year_its_article(seed_rag, question):
    answer = seed_rag.ask(question)
    assert not answer.abstained and answer.comparison is None
    assert [p.date for p in answer.timeline] == ["2021", "2024"]
    first, last = answer.timeline
    assert (first.doc_id, last.doc_id) == (RUSSIA_2021, RUSSIA_2024)
    assert cited_docs(answer, first.points) == {RUSSIA_2021}
    assert cited_docs(answer, last.points) == {RUSSIA_2024}
    assert 1 <= len(first.points) <= 3 and 1 <= len(last.points) <= 3
    assert_whole_sentences(seed_rag, answer, first.points + last.points)
    # Citation numbers run across the answer; the text lists the periods in order.
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert answer.answer.index("2021 —") < answer.answer.index("2024 —")
    assert answer.change is None  # no LLM: no "what changed" line


@pytest.mark.parametrize("question", WHEN)
def test_when_did_they_meet_has_one_answer_per_date(seed_rag, question):
    answer = seed_rag.ask(question)
    assert [p.date for p in answer.timeline] == ["2021-12-02", "2024-08-14"]
    assert [cited_docs(answer, p.points) for p in answer.timeline] == [{RUSSIA_2021}, {RUSSIA_2024}]


@pytest.mark.parametrize("question", COMPARE)
def test_comparison_gives_each_counterpart_its_own_articles(seed_rag, question):
    answer = seed_rag.ask(question)
    assert answer.timeline is None and len(answer.comparison) == 2
    japan, russia = answer.comparison
    assert japan.points and russia.points
    assert cited_docs(answer, japan.points) <= JAPAN
    assert cited_docs(answer, russia.points) <= {RUSSIA_2021, RUSSIA_2024}
    assert_whole_sentences(seed_rag, answer, japan.points + russia.points)


@pytest.mark.parametrize("question", TIMELINE)
def test_timeline_of_undated_articles_says_they_are_undated(seed_rag, question):
    answer = seed_rag.ask(question)
    assert answer.timeline and all(p.date is None and p.points for p in answer.timeline)
    assert set().union(*(cited_docs(answer, p.points) for p in answer.timeline)) <= JAPAN


@pytest.mark.parametrize("question", EMPTY_2019)
def test_a_period_with_no_article_says_so(seed_rag, question):
    answer = seed_rag.ask(question)
    empty, covered = answer.timeline
    assert (empty.date, empty.points, empty.doc_id) == ("2019", [], None)
    assert "2019" in empty.note and ("No article" in empty.note or "Không có bài viết" in empty.note)
    assert cited_docs(answer, covered.points) == {RUSSIA_2021}
    assert empty.note in answer.answer


def test_plain_questions_keep_the_ordinary_answer(seed_rag):
    answer = seed_rag.ask(EXAMPLES[0])
    assert answer.timeline is None and answer.comparison is None and answer.reader == "extractive"


def ask_json(seed_index_dir, question: str, capsys) -> dict:
    assert cli.main(["ask", "--json", "--index-dir", str(seed_index_dir), question]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_json_timeline_and_comparison(seed_index_dir, capsys):
    out = ask_json(seed_index_dir, CHANGE[0], capsys)
    docs = {c["n"]: c["doc_id"] for c in out["citations"]}
    assert [(p["date"], p["doc_id"]) for p in out["timeline"]] == [("2021", RUSSIA_2021), ("2024", RUSSIA_2024)]
    for period in out["timeline"]:
        assert period["points"] and {docs[n] for p in period["points"] for n in p["citations"]} == {period["doc_id"]}
        assert all(set(p) >= {"text", "citations"} for p in period["points"])
    assert "comparison" not in out and out["change"] is None

    out = ask_json(seed_index_dir, COMPARE[1], capsys)
    assert [s["entity"] for s in out["comparison"]] == ["Nhật Bản", "Nga"]
    assert "timeline" not in out

    out = ask_json(seed_index_dir, EMPTY_2019[2], capsys)
    assert out["timeline"][0]["points"] == [] and "2019" in out["timeline"][0]["note"]

    out = ask_json(seed_index_dir, EXAMPLES[0], capsys)
    assert "timeline" not in out and "comparison" not in out


def test_question_file_periods_are_validated(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "question": CHANGE[0], "periods": [{"date": "2021"}]}) + "\n", "utf-8")
    with pytest.raises(QuestionFileError, match="gold_docs"):
        load_questions(bad)
    bad.write_text(json.dumps({"id": "x", "question": CHANGE[0], "periods": [{"gold_docs": []}]}) + "\n", "utf-8")
    with pytest.raises(QuestionFileError, match="date"):
        load_questions(bad)
    rows = [json.loads(line) for line in (ROOT / "eval" / "questions.jsonl").read_text("utf-8").splitlines() if line.strip()]
    timeline = [r for r in rows if r.get("periods")]
    assert len(timeline) >= 15 and {r["lang"] for r in timeline} == {"en", "vi", "vi-nodiac"}
    assert all(sum(r["lang"] == lang for r in timeline) >= 5 for lang in ("en", "vi", "vi-nodiac"))
    # A period no article covers is among them, and gold docs default to the periods' union.
    assert any(p["gold_docs"] == [] for r in timeline for p in r["periods"])
    loaded = {q.id: q for q in load_questions(ROOT / "eval" / "questions.jsonl")}
    assert loaded["en-tl-change-russia"].gold_docs == [RUSSIA_2021, RUSSIA_2024]


def test_evaluation_reports_period_figures_by_language(seed_rag, tmp_path):
    rows = [json.loads(line) for line in (ROOT / "eval" / "questions.jsonl").read_text("utf-8").splitlines() if line.strip()]
    subset = [r for r in rows if re.search(r"-tl-(change-russia|when-meet-russia)", r["id"])]
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in subset), "utf-8")
    metrics = evaluate_questions(seed_rag, path)
    for lang in ("en", "vi", "vi-nodiac"):
        figures = metrics["timeline"]["by_lang"][lang]
        assert figures["period_coverage"] == 1.0 and figures["order_correct"] == 1.0
        assert figures["wrong_period_points"] == 0 and figures["empty_periods_said"] == 1.0
    from rag.evaluate.report import format_text

    assert "Timeline and comparison questions" in format_text(metrics)


# ------------------------------------------------------------------ the app
APP = ROOT / "ui" / "app.py"


@pytest.fixture
def app(writable_index, monkeypatch) -> AppTest:
    monkeypatch.setenv("RAG_INDEX_DIR", str(writable_index))
    monkeypatch.setenv("RAG_STORE", "faiss")
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.run()
    assert not at.exception
    return at


def page_html(at: AppTest) -> str:
    return "\n".join(h.value for h in at.main.get("html"))


def test_app_shows_a_timeline_and_a_comparison(app):
    at = app.chat_input(key="chat_input").set_value(CHANGE[1]).run()
    assert not at.exception
    html = page_html(at)
    assert re.findall(r'data-date="(\d{4})"', html) == ["2021", "2024"]
    # Each period's points are followed by their cards: 2021's cite 003, 2024's cite 002.
    points = re.split(r'data-period="', html)[1:]
    assert points[0].startswith("2021") and f'data-doc-id="{RUSSIA_2021}"' in points[0] and RUSSIA_2024 not in points[0]
    assert points[1].startswith("2024") and f'data-doc-id="{RUSSIA_2024}"' in points[1]

    at = at.chat_input(key="chat_input").set_value(EMPTY_2019[0]).run()
    assert "No article dated 2019 says anything about this." in page_html(at)

    at = at.chat_input(key="chat_input").set_value(COMPARE[0]).run()
    assert not at.exception
    html = page_html(at)
    assert 'data-entity="Japan"' in html and 'data-entity="Russia"' in html
