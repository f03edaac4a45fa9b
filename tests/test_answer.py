"""Extractive answers with citations, abstention, follow-ups, bad questions."""

from __future__ import annotations

import pytest

from rag.pipeline import QuestionError, check_question
from rag.read import ABSTAIN_MESSAGE
from tests.conftest import EXAMPLES

AGREED_AREAS = "tập trung vào các nội dung như trao đổi đoàn các cấp"


@pytest.mark.parametrize("question", EXAMPLES)
def test_example_answer_cites_the_agreed_areas(seed_rag, question):
    answer = seed_rag.ask(question)
    assert not answer.abstained
    assert "[1]" in answer.answer
    cited = [c for c in answer.citations if AGREED_AREAS in c.text]
    assert cited, [c.chunk_id for c in answer.citations]
    assert cited[0].doc_id == "2984af66f89cc659"


def test_citations_point_to_passages_and_quotes(seed_rag):
    answer = seed_rag.ask("Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?")
    assert "51.000" in answer.answer and answer.language == "vi" and answer.note is None
    for c in answer.citations:
        assert f"[{c.n}]" in answer.answer
        article = seed_rag.article(c.doc_id).text
        assert article[c.start : c.end] == c.text
        for s, e in c.quote_spans:
            assert c.text[s:e] in c.quote


def test_english_question_says_evidence_is_vietnamese(seed_rag):
    answer = seed_rag.ask("How many Vietnamese students are there in Japan?")
    # Metadata for the UI, not text glued onto the quotes.
    assert answer.evidence_language == "vi" and answer.note is None
    assert answer.answer.startswith("Số lưu học sinh") and "51.000" in answer.answer


@pytest.mark.parametrize(
    "question, message",
    [
        ("What did Vietnam and France agree about nuclear power plants?", ABSTAIN_MESSAGE["en"]),
        ("Việt Nam và Pháp thỏa thuận gì về nhà máy điện hạt nhân?", ABSTAIN_MESSAGE["vi"]),
    ],
)
def test_unanswerable_questions_abstain(seed_rag, question, message):
    answer = seed_rag.ask(question)
    assert answer.abstained and answer.answer == message and answer.citations == []
    assert answer.passages  # the closest passages are still returned, for display


def test_follow_up_carries_the_year_forward(seed_rag):
    answer = seed_rag.ask("And what about 2024?", history=["What did Vietnam and Russia agree in 2021?"])
    assert answer.citations and answer.citations[0].doc_id == "2fda3e61c4dbe223"


@pytest.mark.parametrize("question", ["", "   \n\t", "x" * 5000])
def test_bad_questions_are_refused(seed_rag, question):
    with pytest.raises(QuestionError):
        seed_rag.ask(question)


@pytest.mark.parametrize("question", ["", "   \n\t"])
def test_empty_question_says_it_is_empty(question):
    with pytest.raises(QuestionError, match="^The question is empty; type a question.$"):
        check_question(question)


@pytest.mark.parametrize("question", ["???", "🇻🇳🤝🇷🇺 ❓", "👍", "→ ★ ♥ …"])
def test_emoji_or_symbols_alone_ask_for_words(seed_rag, question):
    # Not "empty": the user typed something, just nothing that can be searched.
    with pytest.raises(QuestionError, match="^Type your question in words; emoji and symbols alone cannot be searched.$"):
        seed_rag.ask(question)


def test_emoji_beside_words_are_a_question():
    assert check_question("  Việt Nam 🇻🇳 và Nga 🤝 năm 2021? ") == "Việt Nam 🇻🇳 và Nga 🤝 năm 2021?"


def test_filters_that_exclude_everything_say_so(seed_rag):
    from rag.store import Filters

    with pytest.raises(QuestionError, match="No article matches the filters"):
        seed_rag.ask("What did Vietnam and Russia agree?", filters=Filters(date_to="1990-01-01"))


@pytest.mark.parametrize("question", [
    "What is the aim of Vietnam's \"four nos\" defence policy?",
    "Chính sách quốc phòng “4 không” của Việt Nam nhằm mục đích gì?",
    "chinh sach quoc phong 4 khong cua viet nam nham muc dich gi",
])
def test_a_fact_only_a_caption_holds_is_found_and_cited_as_a_caption(seed_rag, question):
    # "4 không" is in 002 only under a photo (rag.clean keeps captions, marked).
    answer = seed_rag.ask(question)
    assert not answer.abstained and "hòa bình, tự vệ" in answer.answer
    cited = [c for c in answer.citations if "“4 không”" in c.quote]
    assert cited and cited[0].doc_id == "2fda3e61c4dbe223" and cited[0].caption
    assert all(not c.caption for c in answer.citations if "“4 không”" not in c.quote)


def test_an_english_question_s_rendering_chooses_sentences_and_the_gate_reads_its_own_cosine(seed_rag):
    """With an LLM's Vietnamese rendering joined in (here written by hand), the reader
    scores sentences with it as retrieval does, while the gate's cosine stays the
    question's own, the one its English threshold is calibrated on."""
    from rag.query_translation import Rendering
    from rag.read.extractive import ExtractiveReader

    question = "How many Vietnamese students are there in Japan?"
    retriever = seed_rag.retriever
    analysis = retriever.analyse(question)
    own = retriever.query_vector(question, analysis)
    vector, rendered = retriever.with_rendering(own, analysis, Rendering("Có bao nhiêu sinh viên Việt Nam ở Nhật Bản?", 1.0), None)
    assert rendered.rendering and rendered.own_vector is own and analysis.own_vector is None
    hits = retriever.search(question, k=15, query_vector=vector, analysis=rendered)
    reader = ExtractiveReader(seed_rag.store, seed_rag.embedder)
    with_rendering, alone = reader.answer(question, rendered, hits, vector), reader.answer(question, analysis, hits, own)
    assert "51.000" in with_rendering.answer
    assert with_rendering.evidence["cosine"] == pytest.approx(alone.evidence["cosine"])
    # Sentences are ranked by the joined vector: the scores differ from the question's own.
    selected = {c.span: c.score for c in reader.select(question, rendered, hits, vector).verdict.usable}
    plain = {c.span: c.score for c in reader.select(question, analysis, hits, own).verdict.usable}
    assert any(abs(selected[span] - plain[span]) > 1e-3 for span in selected.keys() & plain.keys())
