"""Hand-worked cases for the pure metric functions of rag.evaluate.metrics (no model)."""

from __future__ import annotations

import math
import unicodedata

import pytest

from rag.evaluate import metrics as m

T, F = True, False


# ------------------------------------------------------------------ ranking
def test_recall_at_k_is_success_at_k():
    assert m.recall_at_k([F, T, F], 1) == 0.0
    assert m.recall_at_k([F, T, F], 2) == 1.0
    assert m.recall_at_k([F, T, T], 10) == 1.0  # two relevant items still count once
    assert m.recall_at_k([], 5) == 0.0


def test_first_relevant_rank_and_reciprocal_rank():
    assert m.first_relevant_rank([F, F, T, T]) == 3
    assert m.first_relevant_rank([F, F]) is None
    assert m.reciprocal_rank([F, F, T]) == pytest.approx(1 / 3)
    assert m.reciprocal_rank([T]) == 1.0
    assert m.reciprocal_rank([F, F]) == 0.0


def test_ndcg_binary_log2_discount():
    # ranks 2 and 4 relevant, 2 relevant in all: DCG = 1/log2(3) + 1/log2(5) = 1.0616,
    # IDCG = 1 + 1/log2(3) = 1.6309 -> 0.6509
    assert m.ndcg_at_k([F, T, F, T], 4, n_relevant=2) == pytest.approx(0.6509, abs=1e-4)
    # 3 relevant exist but k=2 caps the ideal at two: DCG = 1, IDCG = 1.6309 -> 0.6131
    assert m.ndcg_at_k([T, F], 2, n_relevant=3) == pytest.approx(0.6131, abs=1e-4)
    # perfect ranking
    assert m.ndcg_at_k([T, T, F], 10, n_relevant=2) == pytest.approx(1.0)
    # a relevant item beyond k does not count
    assert m.ndcg_at_k([F, F, T], 2, n_relevant=1) == 0.0
    # nothing relevant anywhere: 0, not a division by zero
    assert m.ndcg_at_k([F, F], 10, n_relevant=0) == 0.0
    # default ideal: the relevant items in the list
    assert m.ndcg_at_k([F, T], 2) == pytest.approx(1 / math.log2(3))


# --------------------------------------------------------------- aggregates
def test_percentile_linear_interpolation():
    values = [40.0, 10.0, 30.0, 20.0]
    assert m.percentile(values, 50) == pytest.approx(25.0)
    assert m.percentile(values, 95) == pytest.approx(38.5)  # position 2.85: 30 + 0.85 x 10
    assert m.percentile(values, 0) == 10.0
    assert m.percentile(values, 100) == 40.0
    assert m.percentile([7.0], 95) == 7.0
    assert m.percentile([], 50) is None


def test_mean_and_ratio_handle_empty():
    assert m.mean([1.0, None, 0.0]) == 0.5
    assert m.mean([None]) is None
    assert m.ratio(1, 4) == 0.25
    assert m.ratio(0, 0) is None


# ------------------------------------------------------------ span relevance
def test_locate_span_exact_and_whitespace_tolerant():
    text = "Câu một.\nSố lưu học sinh Việt Nam tại Nhật Bản hiện đạt hơn 51.000 người. Câu ba."
    span = "Số lưu học sinh Việt Nam tại Nhật Bản hiện đạt hơn 51.000 người"
    start = text.index("Số")
    assert m.locate_span(text, span) == (start, start + len(span))
    assert m.locate_span(text, "một. Số lưu") == (text.index("một."), text.index("một.") + len("một.\nSố lưu"))
    nfd = unicodedata.normalize("NFD", span)
    assert m.locate_span(text, nfd) == (start, start + len(span))
    assert m.locate_span(text, "không có") is None
    assert m.locate_span(text, "  ") is None


def test_overlap():
    assert m.overlap((0, 10), (5, 20)) == 5
    assert m.overlap((0, 10), (10, 20)) == 0
    assert m.overlap((0, 100), (20, 30)) == 10


def test_chunk_relevance_with_partial_overlap():
    span = (100, 160)  # 60 characters
    assert m.chunk_relevant((50, 400), [span])  # whole span inside
    assert m.chunk_relevant((0, 130), [span])  # 30 of 60: exactly half
    assert not m.chunk_relevant((0, 129), [span])  # 29 of 60: less than half
    assert m.chunk_relevant((120, 400), [span])  # 40 of 60
    assert not m.chunk_relevant((160, 400), [span])  # touches, shares nothing
    assert not m.chunk_relevant((0, 50), [span])
    # a span longer than the chunk: the chunk counts when mostly inside it
    long_span = (0, 1000)
    assert m.chunk_relevant((200, 300), [long_span])
    assert not m.chunk_relevant((950, 1100), [long_span])  # 50 of its 150 characters
    # any of several spans
    assert m.chunk_relevant((0, 129), [span, (10, 20)])
    assert not m.chunk_relevant((0, 129), [])


# -------------------------------------------------------- answer correctness
def test_answer_correct_needs_every_group():
    groups = [["51.000", "51,000"], ["Nhật Bản", "Japan"]]
    assert m.answer_correct("Hơn 51.000 lưu học sinh đang học tại NHẬT BẢN.", groups)  # case
    assert m.answer_correct("More than 51,000 students in Japan", groups)  # other alternatives
    assert not m.answer_correct("Hơn 51.000 lưu học sinh.", groups)  # second group missing
    assert not m.answer_correct("", groups)
    assert not m.answer_correct("anything", [])


def test_answer_correct_normalises_unicode_and_spaces():
    nfd_answer = unicodedata.normalize("NFD", "Hai bên nhất   trí tăng cường hợp tác")
    assert m.answer_correct(nfd_answer, [["nhất trí"]])
    assert m.answer_correct("Hai bên nhất trí", [[unicodedata.normalize("NFD", "NHẤT TRÍ")]])
    assert not m.answer_correct("Hai bên nhat tri", [["nhất trí"]])  # diacritics matter
    assert not m.answer_correct("something", [[""]])  # an empty alternative matches nothing


# ------------------------------------------------------------------- SQuAD
def test_squad_normalisation():
    assert m.normalize_answer("The Denver Broncos!") == "denver broncos"
    assert m.normalize_answer("  “Đội  Panthers”. ") == "đội panthers"
    assert m.normalize_answer("an apple, a pear") == "apple pear"
    assert m.normalize_answer(unicodedata.normalize("NFD", "Việt")) == "việt"


def test_exact_match_and_f1():
    assert m.exact_match("the Broncos", ["Broncos", "Denver"]) == 1.0
    assert m.exact_match("Denver Broncos", ["Broncos"]) == 0.0
    # 1 shared token: precision 1/3, recall 1/1 -> F1 = 2 * (1/3) / (4/3) = 0.5
    assert m.f1_score("Denver Broncos won", ["Broncos"]) == pytest.approx(0.5)
    # best over golds: "308 điểm" vs "308": precision 1/2, recall 1 -> 2/3
    assert m.f1_score("308 điểm", ["Panthers", "308"]) == pytest.approx(2 / 3)
    assert m.f1_score("nothing shared", ["308"]) == 0.0
    assert m.f1_score("", ["308"]) == 0.0


def test_answer_in_text_matches_whole_tokens():
    assert m.answer_in_text("Đội thủ của Panthers chỉ thua 308 điểm.", ["308"]) == 1.0
    assert m.answer_in_text("Họ thua 3080 điểm.", ["308"]) == 0.0
    assert m.answer_in_text("Giải Super Bowl 50 diễn ra.", ["super bowl 50", "x"]) == 1.0
    assert m.answer_in_text("", ["308"]) == 0.0
