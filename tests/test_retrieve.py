"""Retrieval on the seed index: cross-lingual, no-diacritics, dates, filters, fusion.
Every test runs on both stores: nothing above the store may depend on which it is."""

from __future__ import annotations

import pytest

from rag import retrieve
from rag.clean import CAPTION_MARK
from rag.pipeline import QuestionError
from rag.store import Filters
from tests.conftest import BOTH_STORES, EXAMPLES

pytestmark = BOTH_STORES

RUSSIA_2021 = "2984af66f89cc659"
RUSSIA_2024 = "2fda3e61c4dbe223"


@pytest.mark.parametrize("question", EXAMPLES)
def test_example_question_finds_the_2021_talks_in_top3(seed_rag, question):
    top3 = [h.chunk.doc_id for h in seed_rag.search(question, k=3)]
    assert RUSSIA_2021 in top3, top3


def test_year_in_question_prefers_matching_article(seed_rag):
    assert seed_rag.search("What did Vietnam and Russia agree in 2021?", k=1)[0].chunk.doc_id == RUSSIA_2021
    assert seed_rag.search("What did Vietnam and Russia agree in 2024?", k=1)[0].chunk.doc_id == RUSSIA_2024
    assert seed_rag.search("Việt Nam và Nga hội đàm tháng 8/2024", k=1)[0].chunk.doc_id == RUSSIA_2024


def test_date_boost_can_be_switched_off(seed_rag):
    with_dates = seed_rag.search("What did Vietnam and Russia agree in 2021?", k=5)
    without = seed_rag.search("What did Vietnam and Russia agree in 2021?", k=5, use_dates=False)
    assert any(h.date_match for h in with_dates) and not any(h.date_match for h in without)


def test_bm25_matches_text_typed_without_diacritics(seed_rag):
    hits = seed_rag.search("hop tac quoc phong", k=3, mode="bm25")
    assert hits and all("hợp tác quốc phòng" in (h.chunk.title + h.chunk.text).lower() for h in hits)
    assert seed_rag.search("luu hoc sinh nhat ban", k=1, mode="bm25")[0].chunk.text.count("lưu học sinh") >= 1


def test_lexical_weight_follows_lexical_evidence(seed_rag):
    english = seed_rag.retriever.analyse("How many people live in the capital of France?")
    vietnamese = seed_rag.retriever.analyse("Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?")
    no_marks = seed_rag.retriever.analyse("co bao nhieu luu hoc sinh viet nam tai nhat ban")
    # The weight is the language's maximum (fitted on XQuAD) scaled by the share of the
    # question's words the corpus has: "live", "capital" are not Vietnamese words.
    assert english.coverage < 1.0 and vietnamese.coverage == 1.0 and no_marks.coverage == 1.0
    for analysis in (english, vietnamese, no_marks):
        assert analysis.lexical_weight == pytest.approx(retrieve.LEXICAL_WEIGHT[analysis.language] * analysis.coverage)
    assert english.lexical_weight < retrieve.LEXICAL_WEIGHT["en"]
    assert (english.language, vietnamese.language, no_marks.language) == ("en", "vi", "vi-nodiac")


def test_glossary_translates_english_terms_for_bm25(seed_rag):
    tokens = seed_rag.retriever.analyse("What did Vietnam and Russia agree?").tokens
    assert "nhat_tri" in tokens and "nga" in tokens
    assert "vietnam" not in tokens  # the English spelling matches only the credit "Vietnam+"


def test_filters(seed_rag):
    question = "What did Vietnam and Russia agree?"
    only_2024 = seed_rag.search(question, k=5, filters=Filters(date_from="2022-01-01"))
    assert only_2024 and {h.chunk.doc_id for h in only_2024} == {RUSSIA_2024}
    by_doc = seed_rag.search(question, k=5, filters=Filters(doc_ids={"fcbcc136c822d78f"}))
    assert {h.chunk.doc_id for h in by_doc} == {"fcbcc136c822d78f"}
    by_source = seed_rag.search(question, k=5, filters=Filters(sources={"Chinhphu.vn"}))
    assert {h.chunk.source for h in by_source} == {"Chinhphu.vn"}
    with pytest.raises(QuestionError, match="No article matches"):
        seed_rag.search(question, filters=Filters(date_to="2000-01-01"))


def test_hits_are_ranked_and_distinct(seed_rag):
    hits = seed_rag.search("Việt Nam Nhật Bản", k=8)
    assert [h.rank for h in hits] == list(range(1, 9))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len({h.chunk.chunk_id for h in hits}) == 8


@pytest.mark.parametrize("mode", ["dense", "bm25", "rrf", "hybrid"])
def test_all_modes_answer(seed_rag, mode):
    assert len(seed_rag.search("lưu học sinh Việt Nam tại Nhật Bản", k=3, mode=mode)) == 3


def test_near_duplicate_articles_are_collapsed(writable_index, embedder, tmp_path, store):
    from rag.pipeline import RAG
    from tests.conftest import SEEDS

    # The same wire story indexed twice under two names (a syndicated copy).
    copy = tmp_path / "copy_of_004.txt"
    original = (SEEDS / "004_ed8cdf30e0db6200.txt").read_text("utf-8")
    copy.write_text(original.replace("Chiều 28/9,", "Chiều ngày 28/9,"), encoding="utf-8")
    rag = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    copy_id = rag.add_paths([copy]).added[0]
    hits = rag.search("Việt Nam và EU ký FPA năm 2019", k=5)
    texts = [h.chunk.text for h in hits]
    assert len(texts) == len(set(texts))
    assert {copy_id, "fcbcc136c822d78f"} & {h.chunk.doc_id for h in hits}


def test_a_caption_is_weighed_down_by_the_caption_penalty(seed_rag, monkeypatch):
    # The caption "Bộ trưởng Phan Văn Giang và Bộ trưởng Andrey Removich Belousov." read
    # as a question: its own chunk, and the passages around it, with and without the penalty.
    question = "Bộ trưởng Phan Văn Giang và Bộ trưởng Andrey Removich Belousov"
    weighed = {h.chunk.chunk_id: h for h in seed_rag.search(question, k=10)}
    penalty = retrieve.CAPTION_PENALTY
    assert penalty > 0
    monkeypatch.setattr(retrieve, "CAPTION_PENALTY", 0.0)
    unweighed = {h.chunk.chunk_id: h for h in seed_rag.search(question, k=10)}
    captions = [c for c, h in unweighed.items() if h.chunk.caption]
    assert captions and all(h.chunk.text.startswith(CAPTION_MARK) for c, h in unweighed.items() if c in captions)
    for chunk_id in set(weighed) & set(unweighed):
        lost = unweighed[chunk_id].score - weighed[chunk_id].score
        assert lost == pytest.approx(penalty if chunk_id in captions else 0.0, abs=1e-5), chunk_id
    ranked = list(weighed)
    assert all(weighed[a].score >= weighed[b].score for a, b in zip(ranked, ranked[1:])), "ranked by the weighed score"


def test_a_question_without_diacritics_is_embedded_with_them_restored(seed_rag):
    question = "co bao nhieu luu hoc sinh viet nam tai nhat ban"
    typed = "Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?"
    analysis = seed_rag.retriever.analyse(question)
    vector = seed_rag.retriever.query_vector(question, analysis)
    assert analysis.restored == "có bao nhiêu lưu học sinh việt nam tại nhật bản"
    with_marks, without = seed_rag.embedder.embed_queries([typed, question])
    assert float(vector @ with_marks) > 0.95 > float(without @ with_marks)
    # Dense search alone now finds what the question typed with its marks finds.
    assert seed_rag.search(question, k=1, mode="dense")[0].chunk.chunk_id == seed_rag.search(typed, k=1, mode="dense")[0].chunk.chunk_id
    for other in (typed, "How many Vietnamese students are in Japan?"):
        analysis = seed_rag.retriever.analyse(other)
        seed_rag.retriever.query_vector(other, analysis)
        assert analysis.restored is None
