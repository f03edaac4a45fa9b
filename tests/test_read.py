"""What the readers quote: the year asked, whole sentences, the kind of fact asked
for, abstention on near-misses; and the fact checks the LLM readers rely on.

The fact checks are pure functions and run without a model; the rest runs the real
extractive reader over the real seed index (the LLM readers: tests/test_llm.py)."""

from __future__ import annotations

import pytest

from rag.pipeline import RAG, QuestionError
from rag.read import facts
from rag.read.generate import _content_problems
from rag.read.select import answer_type
from rag.store import Filters
from rag.text import split_sentences, words

RUSSIA_2021, RUSSIA_2024 = "2984af66f89cc659", "2fda3e61c4dbe223"

BRIDGE = (
    "Hà Nội thông xe cầu vượt Đống Đa\n\n"
    "Ngày 2/9/2023, thành phố Hà Nội khánh thành cầu vượt tại quận Đống Đa, người dân phấn khởi.\n"
    "Cầu mở cửa cho xe lưu thông từ 5 giờ sáng đến 23 giờ mỗi ngày trong tháng đầu tiên.\n"
    "Cầu dài 420 mét, rộng 17 mét, với tổng vốn đầu tư 350 tỷ đồng từ ngân sách thành phố.\n"
    "Ông Nguyễn Văn Phong, Giám đốc Ban quản lý dự án, cho biết công trình vượt tiến độ hai tháng.\n"
)


# ------------------------------------------------------------- the date rule
@pytest.mark.parametrize("question", [
    "What did Vietnam and Russia agree in 2021?",
    "Việt Nam và Nga đã thống nhất những gì vào năm 2021?",
    "viet nam va nga da thong nhat nhung gi vao nam 2021",
])
def test_a_question_about_2021_quotes_only_2021(seed_rag, question):
    answer = seed_rag.ask(question)
    assert not answer.abstained and RUSSIA_2021 in {c.doc_id for c in answer.citations}
    for c in answer.citations:
        # From a 2021 article, or a sentence that says 2021 (an undated capture quotes
        # the 2021 joint statement "ký ngày 30/11/2021").
        assert (c.date or "").startswith("2021") or "2021" in c.quote, (c.doc_id, c.quote[:80])


@pytest.mark.parametrize("question", ["What did Vietnam and Russia agree in 2024?", "Việt Nam và Nga đã nhất trí những gì năm 2024?"])
def test_a_question_about_2024_quotes_only_2024(seed_rag, question):
    answer = seed_rag.ask(question)
    assert not answer.abstained
    assert {c.date[:4] for c in answer.citations} == {"2024"}
    assert RUSSIA_2024 in {c.doc_id for c in answer.citations}


def test_a_year_no_article_covers_abstains_and_says_why(seed_rag):
    answer = seed_rag.ask("What did Vietnam and Russia agree in 2012?")
    assert answer.abstained and answer.citations == []
    assert answer.note == "No passage is dated 2012."


def test_filters_that_leave_out_the_year_asked_say_so(seed_rag):
    answer = seed_rag.ask("What did Vietnam and Russia agree in 2021?", filters=Filters(date_from="2024-01-01"))
    assert answer.note and "2021" in answer.note and "widen" in answer.note


# ------------------------------------------------------------ whole sentences
@pytest.mark.parametrize("question", ["What did Vietnam and Russia agree in 2021?", "Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?",
                                      "Hai bên nhất trí hợp tác trong lĩnh vực nào?"])
def test_every_quote_is_a_whole_sentence_of_the_article(seed_rag, question):
    answer = seed_rag.ask(question)
    assert not answer.abstained
    for c in answer.citations:
        article = seed_rag.article(c.doc_id).text
        assert article[c.start : c.end] == c.text  # the passage is shown in place
        sentences = set(split_sentences(article))
        for s, e in c.quote_spans:
            assert (c.start + s, c.start + e) in sentences, c.text[s:e]
    # The long 2021 agreement sentence is cut into pieces for the index; quoted whole.
    if "2021" in question:
        assert "đào tạo nguồn nhân lực" in answer.answer and not answer.answer.split("[")[0].rstrip().endswith(",")


# --------------------------------------------------------------- answer types
@pytest.mark.parametrize("question, kind", [
    ("How long is the bridge and how much did it cost?", "amount"),  # the stricter of the two: it needs a unit
    ("Cầu dài bao nhiêu mét?", "number"),
    ("cau dai bao nhieu met", "number"),
    ("When was the bridge opened?", "date"),
    ("Cầu được khánh thành khi nào?", "date"),
    ("In what year was it opened?", "year"),
    ("nam nao cau duoc khanh thanh", "year"),
    ("How much ODA did Japan give?", "amount"),
    ("Who met the Russian defence minister?", "person"),
    ("What did Vietnam and Russia agree?", None),
])
def test_answer_type_is_read_from_the_question_words(question, kind):
    assert answer_type(question) == kind


def test_a_numeric_question_quotes_the_sentence_with_the_number(writable_index, embedder, store):
    rag = RAG.open(writable_index, embedder=embedder, seeds=None, store=store)
    rag.add_upload("cau_dong_da.txt", BRIDGE.encode("utf-8"))
    for question in ("How long is the bridge and how much did it cost?", "Cầu vượt Đống Đa dài bao nhiêu mét?",
                     "cau vuot dong da dai bao nhieu met"):
        answer = rag.ask(question)
        assert not answer.abstained and "420 mét" in answer.answer, (question, answer.answer)
        assert "5 giờ sáng" not in answer.answer  # the opening hours are numbers too, but not the answer
    rag.close()


@pytest.mark.parametrize("question", [
    "How much ODA did Japan provide to Vietnam in 2023?",  # no amount in any article
    "What was the bilateral trade turnover between Vietnam and Russia in 2024?",
    "What did Vietnam and the EU agree about fishing in 2023?",
    # The visit is mentioned, its year is not; a sentence listing the years of local
    # partnerships passes the answer-type rule. Unmarked, this question was declined only
    # because the encoder could not read it; with its marks restored (rag.diacritics) it
    # is read as the marked one, and both are answered: a gap of the gate (README "Known
    # limits"), kept here so that a fix shows.
    *(pytest.param(q, marks=pytest.mark.xfail(strict=True, reason="the gate's answer-type rule passes a year from another sentence"))
      for q in ("nha vua nhat ban sang tham viet nam vao nam nao", "Nhà vua Nhật Bản sang thăm Việt Nam vào năm nào?")),
])
def test_near_misses_abstain(seed_rag, question):
    answer = seed_rag.ask(question)
    assert answer.abstained, answer.answer


def test_the_example_questions_still_answer(seed_rag):
    assert "51.000" in seed_rag.ask("How many Vietnamese students are studying in Japan?").answer
    assert "17/10/2019" in seed_rag.ask("Việt Nam và EU ký Hiệp định FPA vào ngày nào?").answer


def test_emoji_only_is_refused(seed_rag):
    with pytest.raises(QuestionError):
        seed_rag.ask("🇻🇳🤝🇷🇺")


# ------------------------------------------------------------ the fact checks
SOURCE = "Ngày 2/9/2023, thành phố Hà Nội khánh thành cầu vượt dài 420 mét tại quận Đống Đa với tổng vốn đầu tư 350 tỷ đồng."


def test_a_faithful_translation_passes_the_fact_check():
    check = facts.compare(SOURCE, "On September 2, 2023, Hanoi opened a 420-meter overpass in Dong Da district, "
                                  "with a total investment of 350 billion VND.", None)
    assert check.ok, check
    assert facts.compare("Số lưu học sinh Việt Nam tại Nhật Bản hiện đạt hơn 51.000 người.",
                         "The number of Vietnamese students in Japan has reached over 51,000.", None).ok


@pytest.mark.parametrize("translation, flagged", [
    ("On September 2, 2023, Hanoi opened an overpass in Dong Da with a total investment of 350 billion VND.", "420"),
    ("On September 2, 2023, Hanoi opened a 420-meter overpass in Dong Da costing 350 billion yuan.", "dong"),
    ("On September 3, 2023, Hanoi opened a 420-meter overpass in Dong Da costing 350 billion VND.", "2023-09-02"),
    ("On September 2, 2023, Hanoi opened a 420-meter overpass in Dong Da costing 35 billion VND.", "350,000,000,000"),
    ("On September 2, 2023, the city opened a 420-meter overpass in Dong Da costing 350 billion VND.", "Hà Nội"),
])
def test_a_translation_that_drops_or_changes_a_fact_is_flagged(translation, flagged):
    check = facts.compare(SOURCE, translation, None)
    assert not check.ok and any(flagged in f for f in check.flags()), check


def test_numbers_read_the_same_in_both_languages():
    assert facts.numbers("hơn 51.000 người, 1,5 triệu USD, 350 tỷ đồng") == {51000.0, 1.5e6, 350e9}
    assert facts.numbers("over 51,000 people, 1.5 million USD, 350 billion VND") == {51000.0, 1.5e6, 350e9}
    assert facts.numbers("ngày 2/9/2023, năm 2024, tháng 6/2024") == set()  # dates are not numbers


def test_a_vague_generated_sentence_is_not_supported():
    question = "What did Vietnam and Russia agree in 2021?"
    cited = ("Đại tướng Phan Văn Giang và Đại tướng Shoigu nhất trí hợp tác quốc phòng hai bên sẽ tập trung vào các nội dung "
             "như trao đổi đoàn các cấp, duy trì cơ chế Đối thoại chiến lược quốc phòng cấp Thứ trưởng, đào tạo nguồn nhân lực.")
    vague = "Vietnam and Russia agreed in 2021 to establish a new partnership for cooperation in various fields."
    specific = "They agreed to exchange delegations, keep the strategic dialogue at deputy minister level and train personnel."
    assert _content_problems(vague, cited, set(words(question)), english=True)
    assert not _content_problems(specific, cited, set(words(question)), english=True)
