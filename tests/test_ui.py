"""The chat app driven through Streamlit's AppTest: the real app file, the real
embedder, a private copy of the seed index (``writable_index``). No mocks."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from html import escape
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rag.clean import clean
from rag.load import load_path
from rag.pipeline import RAG
from rag.read import AnswerSentence
from rag.read.llm import backend_problem, default_model
from tests.conftest import BOTH_STORES

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "ui" / "app.py"
RUSSIA_2021 = "What did Vietnam and Russia agree in 2021?"
RUSSIA_DOC = "2984af66f89cc659"
ABSTAIN_MESSAGE = "The articles do not contain this information."

# A made-up article: nothing in the seeds mentions salmon or Norway, and the number is
# distinctive, so finding it cited proves the upload was indexed and is searchable.
SALMON_ARTICLE = """Việt Nam và Na Uy ký thỏa thuận hợp tác nuôi cá hồi năm 2025

Hà Nội, ngày 12/3/2025. Bộ Nông nghiệp Việt Nam và Bộ Thủy sản Na Uy đã ký thỏa thuận hợp tác nuôi cá hồi tại tỉnh Lào Cai.
Theo thỏa thuận, hai bên sẽ xây dựng trang trại cá hồi với sản lượng dự kiến 7.318 tấn mỗi năm.
Na Uy sẽ chuyển giao công nghệ nuôi cá hồi nước lạnh và đào tạo 240 kỹ sư Việt Nam trong giai đoạn 2025-2027.
"""
SALMON_ID = hashlib.sha256(SALMON_ARTICLE.encode()).hexdigest()[:16]  # articles are named by their content
SALMON_QUESTION = "Trang trại cá hồi hợp tác giữa Việt Nam và Na Uy có sản lượng dự kiến bao nhiêu tấn mỗi năm?"


@pytest.fixture
def app(writable_index, monkeypatch, store) -> AppTest:
    """The app on a private seed index, first page load done. The environment is set
    before the run: the app reads RAG_INDEX_DIR and RAG_STORE at run time."""
    monkeypatch.setenv("RAG_INDEX_DIR", str(writable_index))
    monkeypatch.setenv("RAG_STORE", store)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception
    return at


def ask(at: AppTest, question: str) -> AppTest:
    return at.chat_input(key="chat_input").set_value(question).run()


def html(at: AppTest) -> list[str]:
    return [h.value for h in at.main.get("html")]


def answers(at: AppTest) -> list[str]:
    return [re.sub(r"<[^>]+>", "", v) for v in html(at) if 'class="qa-answer"' in v]


def card_docs(at: AppTest) -> list[str]:
    """doc_ids of the passage cards on the page, in order."""
    return [doc for v in html(at) if 'class="qa-card"' in v for doc in re.findall(r'data-doc-id="([^"]+)"', v)]


@BOTH_STORES
def test_example_question_is_answered_with_citations(writable_index, monkeypatch, capsys, store):
    monkeypatch.setenv("RAG_INDEX_DIR", str(writable_index))
    monkeypatch.setenv("RAG_STORE", store)
    start = time.perf_counter()
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    loaded = time.perf_counter() - start
    assert [b for b in at.button if b.label == RUSSIA_2021], "the empty chat offers the example questions"
    at.button(key="example-0").click().run()
    first_answer = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n[AppTest] page load {loaded:.2f} s, time to first answer {first_answer:.2f} s (index exists, model loaded in-process)")

    assert not at.exception and not at.error
    assert len(answers(at)) == 1 and "[1]" in answers(at)[0]
    assert RUSSIA_DOC in card_docs(at)
    # English question over Vietnamese sources: the note is shown on its own.
    assert any("The quoted evidence is in Vietnamese." in c.value for c in at.main.caption)
    assert not any(b.label == RUSSIA_2021 for b in at.button), "examples give way to the chat"


def expanders(at: AppTest, label: str) -> list:
    return [e for e in at.main.expander if e.label == label]


def open_expander(at: AppTest, expander) -> AppTest:
    # Opening a lazy expander is a widget change: its key's state becomes True.
    at.session_state[expander.key] = True
    return at.run()


def test_the_whole_article_opens_with_the_passage_highlighted(app):
    ask(app, RUSSIA_2021)
    open_expander(app, expanders(app, "Read the whole article")[0])
    article = [v for v in html(app) if 'class="qa-article"' in v]
    assert len(article) == 1
    assert '<span class="qa-in-article">' in article[0] and "<mark>" in article[0]


def test_a_quote_is_shown_once_and_its_passage_on_request(app):
    ask(app, RUSSIA_2021)
    assert not app.exception and not app.error
    answer = app.session_state["messages"][-1]["answer"]
    assert answer.reader == "extractive" and answer.sentences
    page = "".join(html(app))
    for sentence in answer.sentences:
        assert page.count(escape(sentence.text)) == 1, "the quote is in the answer, not again in its card"
    assert 'class="qa-passage"' not in page, "the passages wait behind their expanders"
    assert len(expanders(app, "Show the passage")) == len(answer.citations)

    open_expander(app, expanders(app, "Show the passage")[0])
    passages = [v for v in html(app) if 'class="qa-passage"' in v]
    assert len(passages) == 1 and "<mark>" in passages[0], "opened, the passage marks the quoted sentence"
    assert any("quoted from the articles" in c.value for c in app.main.caption), "the settings line names the mode"


def test_a_cited_photo_caption_says_so_on_its_card(app):
    ask(app, "Chính sách quốc phòng “4 không” của Việt Nam nhằm mục đích gì?")
    assert not app.exception and not app.error
    cards = [v for v in html(app) if 'class="qa-card"' in v]
    assert cards and 'class="qa-caption">photo caption<' in cards[0]


def test_date_filters_that_leave_out_the_asked_year_say_so(app):
    app.sidebar.date_input(key="date_from").set_value(dt.date(2024, 1, 1)).run()
    app.sidebar.date_input(key="date_to").set_value(dt.date(2024, 12, 31)).run()
    ask(app, RUSSIA_2021)
    assert not app.exception and not app.error
    # It abstains (no 2024 passage says what was agreed in 2021), and says why beside it:
    # the abstention's reason, then the filters that caused it.
    assert [w.value for w in app.main.warning] == [ABSTAIN_MESSAGE]
    assert [i.value for i in app.main.info] == [
        "No passage is dated 2021. The date filters leave out 2021, which the question asks about; widen them to search it."
    ]


def test_emoji_only_question_asks_for_words(app):
    ask(app, "🇻🇳🤝🇷🇺❓")
    assert not app.exception
    assert [e.value for e in app.error] == ["Type your question in words; emoji and symbols alone cannot be searched."]
    assert not answers(app) and not app.session_state["messages"], "nothing was asked"


def offers_modes(at: AppTest) -> bool:
    return any(r.key == "answer_mode" for r in at.sidebar.radio)


def test_answer_modes_offered_are_those_that_can_run_here(app):
    llm_runs = backend_problem(f"llamacpp:{default_model()}") is None
    modes = app.sidebar.radio(key="answer_mode") if llm_runs else None
    if llm_runs:
        assert modes.options == [  # as shown
            "Quote the articles", "Quote and translate into English", "LLM writes the answer",
        ]
        assert modes.value == "extractive", "quotes are the default: they need no LLM"
        modes.set_value("translate").run()
        assert app.sidebar.selectbox(key="llm_choice").value == f"llamacpp:{default_model()}"
    else:
        assert not offers_modes(app)
        assert any("run `make llm`" in c.value for c in app.sidebar.caption)


def test_without_an_llm_only_quotes_are_offered_and_how_to_enable_the_rest(writable_index, monkeypatch, tmp_path):
    # An empty model cache, and RAG_LLM naming a model that is not there: what a machine
    # without `make llm` sees.
    gone = tmp_path / "no-llm" / "model.gguf"
    monkeypatch.setenv("RAG_INDEX_DIR", str(writable_index))
    monkeypatch.setenv("RAG_LLM_CACHE", str(gone.parent))
    monkeypatch.setenv("RAG_LLM", f"llamacpp:{gone}")
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception and not offers_modes(at)
    enable = [c.value for c in at.sidebar.caption if c.value.startswith("To translate answers into English")]
    assert len(enable) == 1 and "run `make llm`" in enable[0]
    assert "llama" not in enable[0].lower(), "in a user's words, no package names"
    assert any(c.value.endswith(f"The local model file {gone} is missing; run `make llm` to install it.")
               for c in at.sidebar.caption), "the configured LLM's problem is said, not hidden"
    ask(at, RUSSIA_2021)
    assert not at.error and answers(at) and any("quoted from the articles" in c.value for c in at.main.caption)

    if backend_problem(f"llamacpp:{default_model()}") is None:  # a model typed in by its path is offered at once
        at.sidebar.text_input(key="llm_spec").set_value(f"llamacpp:{default_model()}").run()
        assert at.sidebar.radio(key="answer_mode").options[1] == "Quote and translate into English"


def test_a_typed_llm_that_cannot_run_says_how_to_fix_it(app, tmp_path):
    missing = tmp_path / "none.gguf"
    app.sidebar.text_input(key="llm_spec").set_value(f"llamacpp:{missing}").run()
    assert not app.exception
    assert any(c.value.endswith(f"The local model file {missing} is missing; run `make llm` to install it.")
               for c in app.sidebar.caption)
    if offers_modes(app):  # another LLM runs here: the broken one is not offered
        app.sidebar.radio(key="answer_mode").set_value("translate").run()
        assert f"llamacpp:{missing}" not in app.sidebar.selectbox(key="llm_choice").options


def test_a_translation_shows_its_original_and_a_failed_check_in_words():
    from ui.highlight import translated_answer_html

    sentences = [
        AnswerSentence("There are 51,000 Vietnamese students in Japan.", [1], True,
                       original="Số lưu học sinh Việt Nam tại Nhật Bản là 51.000 người."),
        AnswerSentence("Cầu vượt dài 420 mét.", [2], True, original="Cầu vượt dài 420 mét.", flags=["420 is missing"]),
    ]
    shown = translated_answer_html(sentences)
    assert shown.count("Số lưu học sinh") == 1 and 'class="qa-original"' in shown
    assert shown.count("Cầu vượt dài 420 mét.") == 1, "a fallback to the original shows it once"
    assert "Translation check: 420 is missing; showing the original" in shown


def test_date_filter_changes_the_result(app):
    app.sidebar.date_input(key="date_from").set_value(dt.date(2022, 1, 1)).run()
    ask(app, RUSSIA_2021)
    assert not app.exception and not app.error
    docs = card_docs(app)
    assert docs and RUSSIA_DOC not in docs, "the 2021 article is filtered out"
    assert any("dates 2022-01-01" in c.value for c in app.main.caption), "the answer says which filters shaped it"


def test_follow_up_question_uses_the_history(app):
    ask(app, RUSSIA_2021)
    ask(app, "What about 2024?")
    assert not app.exception and not app.error
    assert any(c.value.startswith("Read as: What about 2024?") and "Russia" in c.value for c in app.main.caption)
    assert "2fda3e61c4dbe223" in card_docs(app)[1:], "the 2024 Russia article answers the follow-up"


@BOTH_STORES
def test_uploaded_article_is_searchable_and_removable(app, writable_index, store):
    before = app.sidebar.metric[0].value
    app.sidebar.file_uploader(key="upload_files").set_value(("ca_hoi_na_uy.txt", SALMON_ARTICLE.encode(), "text/plain"))
    next(b for b in app.sidebar.button if b.label == "Add to the index").click().run()
    assert not app.exception
    assert any(SALMON_ID in s.value and "ca_hoi_na_uy.txt" in s.value for s in app.sidebar.success)
    assert int(app.sidebar.metric[0].value) == int(before) + 1

    ask(app, SALMON_QUESTION)
    assert not app.exception and not app.error
    assert card_docs(app)[0] == SALMON_ID
    assert "7.318" in answers(app)[0]

    app.sidebar.selectbox(key="remove_choice").set_value(SALMON_ID).run()
    app.sidebar.button(key="remove_button").click().run()
    assert not app.exception
    assert int(app.sidebar.metric[0].value) == int(before)
    assert SALMON_ID not in {a.doc_id for a in RAG.open(writable_index, seeds=None, store=store).articles()}


def test_unanswerable_question_abstains_and_shows_closest_passages(app):
    ask(app, "What did Vietnam and France agree about nuclear power plants?")
    assert not app.exception and not app.error
    assert [w.value for w in app.main.warning] == [ABSTAIN_MESSAGE]
    assert any(c.value == "Closest passages (not used as evidence)" for c in app.main.caption)
    assert card_docs(app), "the passages looked at are shown"
    assert not answers(app), "no answer text besides the abstention"


def test_empty_question_shows_an_error(app):
    ask(app, "   ")
    assert not app.exception
    assert [e.value for e in app.error] == ["The question is empty; type a question."]


def test_bad_upload_shows_why_and_leaves_the_index(app, writable_index):
    before = RAG.open(writable_index, seeds=None).stats()
    app.sidebar.file_uploader(key="upload_files").set_value(("x.txt", bytes(range(256)) * 8, "text/plain"))
    next(b for b in app.sidebar.button if b.label == "Add to the index").click().run()
    assert not app.exception
    assert [e.value for e in app.sidebar.error] == ["Not added: x.txt: looks like a binary file, not text"]
    assert RAG.open(writable_index, seeds=None).stats() == before
    ask(app, RUSSIA_2021)
    assert RUSSIA_DOC in card_docs(app), "the index still answers"


def test_no_index_and_no_seeds_shows_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_SEEDS_DIR", str(tmp_path / "no-seeds"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("The index cannot be opened:")
    assert not at.get("chat_input"), "no chat without an index"


def test_missing_index_is_built_with_progress(tmp_path, monkeypatch):
    # One seed article keeps the build to seconds; the path is the same as for all five.
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "002_0f89e1410a4163cd.txt").write_bytes((ROOT / "seeds" / "002_0f89e1410a4163cd.txt").read_bytes())
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_SEEDS_DIR", str(seeds))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception and not at.error
    assert [s.label for s in at.status] == ["Index built: 1 articles, 18 passages"]  # 2 of them photo captions
    assert at.get("progress")[0].value == 100
    assert (tmp_path / "index" / "store.db").exists()
    ask(at, "Who did General Phan Van Giang hold talks with in August 2024?")
    assert card_docs(at) and set(card_docs(at)) == {"2fda3e61c4dbe223"}


def test_evaluation_page_without_a_report(writable_index, tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_INDEX_DIR", str(writable_index))
    monkeypatch.setenv("RAG_REPORTS_DIR", str(tmp_path / "reports"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.switch_page("evaluation.py").run()
    assert not at.exception and not at.error
    assert any(i.value.startswith("No evaluation report yet") for i in at.info)
    assert at.button(key="run_eval")


def test_evaluation_page_runs_the_questions_and_shows_the_report(writable_index, tmp_path, monkeypatch):
    # The app's index holds the seeds only, so only questions on seed articles (and
    # unanswerable ones); questions on eval/articles/ need those indexed too.
    seeds = {clean(raw).doc_id for raw in load_path(ROOT / "seeds")}
    rows = [json.loads(line) for line in (ROOT / "eval" / "questions.jsonl").read_text("utf-8").splitlines() if line.strip()]
    on_seeds = [row for row in rows if not row["unanswerable"] and set(row["gold_docs"]) <= seeds]
    subset = on_seeds[:3] + [row for row in rows if row["unanswerable"]][:2]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in subset), "utf-8")
    monkeypatch.setenv("RAG_INDEX_DIR", str(writable_index))
    monkeypatch.setenv("RAG_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("RAG_QUESTIONS", str(questions))
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.switch_page("evaluation.py").run()
    at.button(key="run_eval").click().run()
    assert not at.exception and not at.error
    assert any(s.value.startswith("New report written to") for s in at.success)
    assert any(h.value.startswith("Latest report:") for h in at.subheader)
    assert len(at.dataframe) == 3, "retrieval, answers and the per-question table"
    answers = at.dataframe[1].value
    assert {"accuracy", "language_match", "wrong_year_citations", "whole_sentence_quotes"} <= set(answers.index)
    assert list(answers.columns)[0] == "all" and list(answers.columns)[-1] == "meaning", "figures as rows, languages as columns"
    assert all(answers["meaning"]), "every figure is explained"
    assert "wrong year" in at.dataframe[2].value.columns
    assert any(e.label == "What the figures mean" for e in at.expander)
    assert any(m.label == "retrieval p50" for m in at.metric), "latency figures"
    assert at.get("image"), "the report's plots are shown"

    at.selectbox(key="inspect_question").set_value("en-students-japan").run()
    assert not at.exception
    assert "928598893a65ddec" in card_docs(at), "the drill-down lists the retrieved passages"
