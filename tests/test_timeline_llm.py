"""Timeline answers with the local LLM (`make llm`): English points translated and
checked like the translate reader's, and the "what changed" line written from the
cited points only. Skipped where the model is not installed."""

from __future__ import annotations

import re

import pytest

from rag.pipeline import RAG
from tests.test_llm import MODEL, _skip_reason
from tests.test_timeline import CHANGE, RUSSIA_2021, RUSSIA_2024, cited_docs

pytestmark = pytest.mark.llm

if reason := _skip_reason():
    pytest.skip(reason, allow_module_level=True)


@pytest.fixture(scope="module")
def llm_rag(seed_index_dir, embedder) -> RAG:
    return RAG.open(seed_index_dir, embedder=embedder, seeds=None).use_llm(f"llamacpp:{MODEL}")


def test_english_timeline_points_are_translated_or_shown_with_their_flags(llm_rag):
    answer = llm_rag.ask(CHANGE[0])
    first, last = answer.timeline
    assert (cited_docs(answer, first.points), cited_docs(answer, last.points)) == ({RUSSIA_2021}, {RUSSIA_2024})
    for point in first.points + last.points:
        assert point.original  # the Vietnamese sentence quoted
        # Kept: an English rendering that passed the fact check; else the original with what failed.
        assert (point.text != point.original and not point.flags) or (point.text == point.original and point.flags)
    if answer.change is not None:  # left out when the LLM's line cites nothing or adds a fact
        periods = {n: i for i, p in enumerate(answer.timeline) for s in p.points for n in s.citations}
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer.change)}
        assert cited <= set(periods) and len({periods[n] for n in cited}) == 2
        assert answer.change in answer.answer


def test_vietnamese_timeline_points_stay_quoted(llm_rag):
    answer = llm_rag.ask(CHANGE[1])
    assert all(p.original is None for period in answer.timeline for p in period.points)
    assert [cited_docs(answer, p.points) for p in answer.timeline] == [{RUSSIA_2021}, {RUSSIA_2024}]


def test_the_llm_reads_a_shape_the_rules_miss(llm_rag):
    """No shape words the rules know ("change", "timeline", "so sánh"): two years and a
    request for both; with the LLM it is answered period by period, 2021 citing 003."""
    from rag.read.timeline import question_shape

    question = "Vietnam and Russia defence cooperation: 2021 versus 2024, what was agreed each time?"
    assert question_shape(question) is None  # the rules alone read it as a plain question
    shape = question_shape(question, llm_rag.chat_model)
    assert shape is not None and shape.periods == ["2021", "2024"], shape
    assert question_shape("How many Vietnamese students are studying in Japan?", llm_rag.chat_model) is None
