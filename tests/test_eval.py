"""End to end: `rag eval` on a small question file over the seed index, and on XQuAD
with a few paragraphs; the report folder, `latest`, and the Python API the UI calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.cli import main
from rag.dates import query_dates
from rag.evaluate import metrics as m
from rag.evaluate.questions import QuestionFileError, answer_sentences, evaluate_questions, load_questions, parse_configs
from rag.evaluate.report import latest_report, write_report
from rag.evaluate.xquad import load_xquad, select_split
from rag.pipeline import RAG
from rag.text import split_sentences

ROOT = Path(__file__).resolve().parent.parent
XQUAD = ROOT.parent / "shared" / "benchmarks" / "xquad"

SPAN_STUDENTS = "Số lưu học sinh Việt Nam tại Nhật Bản hiện đạt hơn 51.000 người"
QUESTIONS = [
    {"id": "q1", "question": "How many Vietnamese students are studying in Japan?", "lang": "en",
     "gold_docs": ["928598893a65ddec"], "gold_spans": [SPAN_STUDENTS], "answer_all": [["51.000", "51,000"]], "unanswerable": False},
    {"id": "q2", "question": "Số lưu học sinh Việt Nam tại Nhật Bản là bao nhiêu?", "lang": "vi",
     "gold_docs": ["928598893a65ddec"], "gold_spans": [SPAN_STUDENTS], "answer_all": [["51.000"]], "unanswerable": False},
    {"id": "q3", "question": "Bo truong Phan Van Giang moi Bo truong Quoc phong Nga tham du su kien gi?", "lang": "vi-nodiac",
     "gold_docs": ["2fda3e61c4dbe223"],
     "gold_spans": ["Triển lãm Quốc phòng quốc tế Việt Nam 2024, Bộ trưởng Phan Văn Giang trân trọng kính mời"],
     "answer_all": [["Triển lãm Quốc phòng quốc tế"]], "unanswerable": False},
    {"id": "q4", "question": "Which contest did Vietnam host for the first time in 2021 at the International Army Games?", "lang": "en",
     "gold_docs": ["2984af66f89cc659"],
     "gold_spans": ["lần đầu tiên Bộ Quốc phòng Việt Nam đăng cai thành công Cuộc thi “Xạ thủ bắn tỉa và vùng tai nạn”"],
     "answer_all": [["Xạ thủ bắn tỉa"]], "unanswerable": False},
    {"id": "q5", "question": "What was the price of rice exported to the Philippines in 2023?", "lang": "en",
     "gold_docs": [], "gold_spans": [], "answer_all": [], "unanswerable": True},
]


@pytest.fixture
def questions_file(tmp_path) -> Path:
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in QUESTIONS) + "\n", "utf-8")
    return path


COUNTS = {"wrong_year_citations"}  # answer figures that are counts, not shares


def _check_unit_interval(summary: dict) -> None:
    for key, value in summary.items():
        if key == "n" or key.startswith("n_") or key in COUNTS:
            assert isinstance(value, int) and value >= 0, (key, value)
        else:
            assert value is None or 0.0 <= value <= 1.0, (key, value)


def _run_json(argv: list[str], capsys) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_eval_questions_end_to_end(seed_index_dir, questions_file, tmp_path, capsys):
    reports = tmp_path / "reports"
    metrics = _run_json(["eval", str(questions_file), "--index-dir", str(seed_index_dir), "--json",
                         "--report-dir", str(reports), "--compare", "dense,hybrid,hybrid-nolex"], capsys)

    assert set(metrics) >= {"configs", "answers", "latency_ms", "questions", "meta"}
    assert list(metrics["configs"]) == ["dense", "hybrid", "hybrid-nolex"]
    for config in metrics["configs"].values():
        assert set(config["overall"]) == {"R@1", "R@3", "R@5", "R@10", "MRR", "nDCG@10", "n"}
        assert config["overall"]["n"] == 4  # answerable questions only
        assert set(config["by_lang"]) == {"en", "vi", "vi-nodiac"}
        for summary in [config["overall"], *config["by_lang"].values()]:
            _check_unit_interval(summary)
    answers = metrics["answers"]
    expected = {"accuracy", "abstention_precision", "abstention_recall", "citation_precision", "citation_coverage", "n",
                "language_match", "wrong_year_citations", "wrong_year_rate", "whole_sentence_quotes", "n_year_citations"}
    assert set(answers["overall"]) >= expected
    assert all(set(s) >= expected for s in answers["by_lang"].values())
    for summary in [answers["overall"], *answers["by_lang"].values()]:
        _check_unit_interval(summary)
    assert answers["overall"]["n"] == 5
    assert metrics["configs"]["hybrid"]["overall"]["R@10"] == 1.0  # all gold spans were found in the index
    assert metrics["meta"]["warnings"] == []
    latency = metrics["latency_ms"]
    assert 0 < latency["retrieval_p50"] <= latency["retrieval_p95"] and 0 < latency["answer_p50"] <= latency["answer_p95"]

    rows = {q["id"]: q for q in metrics["questions"]}
    assert set(rows) == {"q1", "q2", "q3", "q4", "q5"}
    q1 = rows["q1"]
    expected = {"id", "question", "lang", "unanswerable", "first_relevant_rank", "correct", "abstained", "answer", "citations", "retrieved"}
    assert set(q1) >= expected
    assert set(q1["first_relevant_rank"]) == {"dense", "hybrid", "hybrid-nolex"}
    assert 0 < len(q1["retrieved"]) <= 10
    assert set(q1["retrieved"][0]) >= {"rank", "doc_id", "chunk_id", "score", "text", "relevant"}
    assert any(hit["relevant"] for hit in q1["retrieved"])
    assert rows["q5"]["first_relevant_rank"]["hybrid"] is None
    # q4 names a year; q1 does not, so it has no wrong-year count.
    assert rows["q1"]["wrong_year_citations"] is None
    if not rows["q4"]["abstained"]:
        assert isinstance(rows["q4"]["wrong_year_citations"], int)
        assert len(rows["q4"]["citation_dates"]) == len(rows["q4"]["citations"])
    for row in rows.values():
        assert row["whole_sentence_quotes"] is None or 0.0 <= row["whole_sentence_quotes"] <= 1.0
    assert answers["overall"]["n_year_citations"] >= answers["overall"]["wrong_year_citations"]

    report = latest_report(reports)
    assert report is not None and Path(metrics["meta"]["report"]).resolve() == report
    for name in ("report.md", "report.html", "metrics.json", "recall_at_k.png", "by_language.png", "latency.png"):
        assert (report / name).stat().st_size > 0, name
    assert json.loads((report / "metrics.json").read_text("utf-8")) == metrics
    markdown = (report / "report.md").read_text("utf-8")
    assert "q1" in markdown and "What the figures mean" in markdown
    assert "- **whole_sentence_quotes**: " in markdown and "- **wrong_year_citations**: " in markdown
    assert "<dt>wrong_year_citations</dt>" in (report / "report.html").read_text("utf-8")


def test_evaluate_questions_api_reports_progress(seed_rag, questions_file):
    calls = []
    metrics = evaluate_questions(seed_rag, questions_file, k=3, configs=("bm25",), progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 5) and calls[-1] == (5, 5)
    assert list(metrics["configs"]) == ["bm25"] and metrics["meta"]["default_config"] == "bm25"
    assert all(len(q["retrieved"]) <= 3 for q in metrics["questions"])


def test_xquad_split_is_by_article_and_deterministic():
    if not (XQUAD / "xquad.vi.json").exists():
        pytest.skip("XQuAD not available")
    _, items = load_xquad(XQUAD)
    calibration, report = select_split(items, "calibration"), select_split(items, "report")
    assert len(calibration) + len(report) == len(items) == len(select_split(items, None))
    assert not {i.article for i in calibration} & {i.article for i in report}  # no article on both sides
    # The halves are a hash of the title: the same here as on any machine, every run.
    assert (len({i.article for i in calibration}), len({i.article for i in report})) == (21, 27)
    assert [i.id for i in select_split(items, "report")] == [i.id for i in report]
    with pytest.raises(ValueError, match="calibration or report"):
        select_split(items, "test")


def test_eval_xquad_report_half_asks_only_its_questions(tmp_path, capsys):
    if not (XQUAD / "xquad.vi.json").exists():
        pytest.skip("XQuAD not available")
    _, items = load_xquad(XQUAD, 40)
    report_docs = {i.doc_id for i in select_split(items, "report")}
    argv = ["eval", "--xquad", str(XQUAD), "--max-paragraphs", "40", "--split", "report", "--no-answers", "--queries", "vi",
            "--cache-dir", str(tmp_path / "cache"), "--report-dir", str(tmp_path / "reports"), "--json"]
    metrics = _run_json(argv, capsys)
    assert metrics["meta"]["split"] == "report" and metrics["meta"]["n_paragraphs"] == 40  # every paragraph indexed
    asked = {q["gold_docs"][0] for q in metrics["questions"]}
    assert asked and asked <= report_docs and len(metrics["questions"]) == len(select_split(items, "report"))


def test_eval_xquad_small(tmp_path, capsys):
    if not (XQUAD / "xquad.vi.json").exists():
        pytest.skip("XQuAD not available")
    argv = ["eval", "--xquad", str(XQUAD), "--max-paragraphs", "6", "--limit", "20", "--queries", "en,vi-nodiac",
            "--compare", "dense,hybrid", "--cache-dir", str(tmp_path / "cache"), "--report-dir", str(tmp_path / "reports"), "--json"]
    metrics = _run_json(argv, capsys)

    assert metrics["meta"]["kind"] == "xquad" and metrics["meta"]["n_paragraphs"] == 6
    assert metrics["meta"]["n_questions"] == 40  # 20 questions in two languages
    for config in metrics["configs"].values():
        assert set(config["overall"]) >= {"R@1", "R@5", "R@10", "MRR", "n"}
        assert set(config["by_lang"]) == {"en", "vi-nodiac"}
        for summary in [config["overall"], *config["by_lang"].values()]:
            _check_unit_interval(summary)
    assert metrics["configs"]["hybrid"]["overall"]["R@10"] > 0.5  # 6 paragraphs: hard to miss
    answers = metrics["answers"]["overall"]
    assert set(answers) >= {"exact_match", "f1", "answer_in_sentence", "abstention_precision", "abstention_recall"}
    _check_unit_interval(answers)
    # Each question is also asked without its paragraph: a near-miss to decline.
    declined = [q["abstained_without_paragraph"] for q in metrics["questions"]]
    assert set(declined) <= {True, False} and len(declined) == 40
    assert answers["abstention_recall"] == pytest.approx(sum(declined) / 40, abs=1e-3)
    row = metrics["questions"][0]
    assert row["gold_docs"][0].startswith("xq-") and row["retrieved"]
    report = latest_report(tmp_path / "reports")
    assert report is not None and (report / "recall_at_k.png").exists()

    # A second run reuses the cached index instead of building it again.
    cache = Path(metrics["meta"]["cache_dir"])
    generation = RAG.open(cache, seeds=None).stats()["generation"]
    again = _run_json(argv[:-1] + ["--json", "--no-answers", "--limit", "3"], capsys)
    assert RAG.open(cache, seeds=None).stats()["generation"] == generation, "nothing was written"
    assert again["meta"]["n_questions"] == 6 and again["answers"] == {}


# ------------------------------------------------------------- no model needed
def test_eval_errors_exit_2(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["eval"]) == 2
    assert main(["eval", "x.jsonl", "--compare", "dense,magic"]) == 2
    assert "magic" in capsys.readouterr().err


def test_load_questions_validates(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "a", "question": "Q?", "lang": "en", "gold_docs": ["d"]}\n{"id": "a", "question": "R?", "gold_docs": ["d"]}\n')
    with pytest.raises(QuestionFileError, match=":2: duplicate id"):
        load_questions(path)
    path.write_text('{"id": "a", "question": "Q?", "lang": "fr", "gold_docs": ["d"]}\n')
    with pytest.raises(QuestionFileError, match="lang"):
        load_questions(path)
    path.write_text('{"id": "a", "question": "Q?", "lang": "en"}\n')
    with pytest.raises(QuestionFileError, match="gold_docs"):
        load_questions(path)
    path.write_text('{"id": "a", "question": "Nga và Việt Nam ký gì?", "unanswerable": true}\n')
    assert load_questions(path)[0].lang == "vi"  # detected when not given


def test_answer_sentences_drops_markers():
    answer = "Hai bên ký 3 văn kiện. [1] Giá trị tăng. [2]"
    assert answer_sentences(answer) == "Hai bên ký 3 văn kiện. Giá trị tăng."


def test_wrong_year_counts_dated_citations_of_other_years():
    assert m.asked_years(query_dates("What did Vietnam and Russia agree in 2021?")) == {"2021"}
    assert m.asked_years(["2024-08", "2021"]) == {"2024", "2021"}
    period = "van ban nao dinh huong hop tac quoc phong giai doan 2020 - 2025"
    assert m.asked_years(query_dates(period), period) == {str(y) for y in range(2020, 2026)}, "a period asks every year in it"
    assert m.wrong_year("2024-08-14", {"2021"})
    assert not m.wrong_year("2021-12-02", {"2021"})
    assert not m.wrong_year("2024-08-14", {"2021", "2024"}), "any year asked is right"
    assert not m.wrong_year(None, {"2021"}), "undated articles are not counted wrong"
    assert not m.wrong_year("2024-08-14", set()), "no year asked: nothing is wrong"


def test_whole_sentence_quotes_follow_split_sentences():
    text = "Cầu dài 420 mét. Vốn là 350 tỷ đồng.\nKhởi công ngày 14/3."
    spans = split_sentences(text)
    first, second, third = (text[s:e] for s, e in spans)
    assert (first, second, third) == ("Cầu dài 420 mét.", "Vốn là 350 tỷ đồng.", "Khởi công ngày 14/3.")

    def whole(piece: str) -> bool:
        start = text.index(piece)
        return m.whole_sentence(text, start, start + len(piece), spans)

    assert whole(first) and whole(third)
    assert whole(f"{first} {second}"), "two whole sentences are a whole quote"
    assert whole(f" {second}\n"), "whitespace around the quote does not matter"
    assert not whole("Cầu dài 420 mét"), "the sentence without its full stop"
    assert not whole("dài 420 mét."), "a sentence cut at its start"
    assert not whole("420 mét. Vốn là 350 tỷ đồng."), "starts inside a sentence"
    assert not m.whole_sentence(text, 3, 3, spans), "an empty quote is not a sentence"


def test_parse_configs():
    assert parse_configs("dense, bm25,dense") == ["dense", "bm25"]
    with pytest.raises(ValueError, match="nope"):
        parse_configs("nope")


def test_latest_report_resolves_a_text_file(tmp_path):
    minimal = {"configs": {}, "answers": {}, "latency_ms": {}, "questions": [], "meta": {"warnings": []}}
    first = write_report(dict(minimal), tmp_path)
    (tmp_path / "latest").unlink()
    assert latest_report(tmp_path) == first.resolve()  # no pointer: the newest folder
    (tmp_path / "latest").write_text(first.name + "\n")
    second = write_report(dict(minimal), tmp_path)
    assert second != first and latest_report(tmp_path) == second.resolve()
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").write_text(first.name + "\n")
    assert latest_report(tmp_path) == first.resolve()
    assert latest_report(tmp_path / "none") is None
