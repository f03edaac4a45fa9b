"""Retrieval with an English question's Vietnamese rendering (rag.query_translation):
how the two are joined, and the guard against renderings that changed a fact. The LLM
that writes renderings is tested in tests/test_llm.py; here the rendering is given."""

from __future__ import annotations

from rag.query_translation import DOUBTFUL_SHARE, WEIGHT, Rendering, changed_facts

RUSSIA_2021 = "2984af66f89cc659"


def test_a_faithful_rendering_changes_no_fact():
    assert changed_facts("What did Vietnam and Russia agree in 2021?", "Việt Nam và Nga đã nhất trí những gì vào năm 2021?") == []
    assert changed_facts("How many Vietnamese students are in Japan?", "Có bao nhiêu sinh viên Việt Nam ở Nhật Bản?") == []


def test_a_rendering_that_changes_a_fact_is_caught():
    assert "Russia" in changed_facts("What did Vietnam and Russia agree in 2021?", "Việt Nam và Mỹ đã nhất trí gì năm 2021?")
    assert "2021" in changed_facts("What did Vietnam and Russia agree in 2021?", "Việt Nam và Nga đã nhất trí gì năm 2024?")
    # A number the question does not state: the model answered instead of translating.
    assert "1.5" in changed_facts("How long is the Nga Tu Vong overpass?", "Cầu vượt Ngã Tư Vọng dài khoảng 1.5 km.")


def test_the_rendering_joins_the_english_question_in_retrieval(seed_rag):
    question = "What did the two defence ministers sign?"  # no year, no names: the English alone is vague
    rendering = Rendering("Bộ trưởng Quốc phòng hai nước Việt Nam, Liên bang Nga đã ký kết văn kiện hợp tác gì?", 1.0)
    plain = seed_rag.retriever.search(question, k=5)
    joined = seed_rag.retriever.search(question, k=5, rendering=rendering)
    assert joined[0].chunk.doc_id == RUSSIA_2021, [h.chunk.doc_id for h in joined]
    assert [h.chunk.chunk_id for h in joined] != [h.chunk.chunk_id for h in plain]
    # A doubtful rendering still counts, at half the weight: the ranking moves less.
    half = seed_rag.retriever.search(question, k=5, rendering=Rendering(rendering.text, WEIGHT * DOUBTFUL_SHARE))
    assert half[0].chunk.doc_id == RUSSIA_2021


def test_without_an_llm_search_is_unchanged(seed_rag):
    assert seed_rag.chat_model is None
    hits = seed_rag.search("What did Vietnam and Russia agree in 2021?", k=5)
    assert [h.chunk.chunk_id for h in hits] == [h.chunk.chunk_id for h in seed_rag.retriever.search(
        "What did Vietnam and Russia agree in 2021?", k=5)]
