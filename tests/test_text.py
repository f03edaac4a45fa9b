"""Folding, language detection, sentence splitting, restoring diacritics."""

from __future__ import annotations

from rag.diacritics import restore
from rag.text import detect_language, fold, split_sentences


def test_fold_removes_diacritics():
    assert fold("Hợp tác Quốc phòng Đà Nẵng") == "hop tac quoc phong da nang"


def test_detect_language():
    assert detect_language("What did Vietnam and Russia agree in 2021?") == "en"
    assert detect_language("Có bao nhiêu lưu học sinh Việt Nam tại Nhật Bản?") == "vi"
    assert detect_language("co bao nhieu luu hoc sinh viet nam tai nhat ban") == "vi-nodiac"


def test_sentences_split_glued_and_keep_abbreviations():
    text = "Bão Yagi gây ra tại VN hồi tháng 9.Chủ tịch Quốc hội phát biểu. Tổng thống V.Putin nói 51.000 người. “Câu” mới!"
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == [
        "Bão Yagi gây ra tại VN hồi tháng 9.",
        "Chủ tịch Quốc hội phát biểu.",
        "Tổng thống V.Putin nói 51.000 người.",
        "“Câu” mới!",
    ]


def test_sentences_never_cross_paragraphs():
    text = "Tiêu đề không dấu chấm\nĐoạn hai. Câu ba."
    assert [text[s:e] for s, e in split_sentences(text)] == ["Tiêu đề không dấu chấm", "Đoạn hai.", "Câu ba."]


def test_language_detection_on_xquad():
    import json

    import pytest

    from tests.conftest import ROOT

    folder = ROOT.parent / "shared" / "benchmarks" / "xquad"
    if not folder.exists():
        pytest.skip(f"{folder} not present")

    def questions(lang):
        data = json.loads((folder / f"xquad.{lang}.json").read_text("utf-8"))
        return [qa["question"] for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]]

    assert all(detect_language(q) == "en" for q in questions("en"))
    vietnamese = questions("vi")
    assert all(detect_language(q) == "vi" for q in vietnamese)
    assert sum(detect_language(fold(q)) == "vi-nodiac" for q in vietnamese) / len(vietnamese) >= 0.95


def test_abbreviations_and_lowercase_do_not_end_sentences():
    text = "Tại TP.HCM, ông A phát biểu. PGS.TS. Nguyễn Văn B nói. Ngày 5.ông ấy đi."
    expected = ["Tại TP.HCM, ông A phát biểu.", "PGS.TS. Nguyễn Văn B nói.", "Ngày 5.ông ấy đi."]
    assert [text[s:e] for s, e in split_sentences(text)] == expected


def test_diacritics_are_restored_from_the_passages():
    passages = ["Hai bên nhất trí thúc đẩy hợp tác quốc phòng.", "Chúng tôi ký kết văn kiện chung với Liên bang Nga."]
    assert restore("hop tac quoc phong", passages) == "hợp tác quốc phòng"
    # Case, punctuation and words the passages lack are kept as typed.
    assert restore("Lien bang Nga ky ket gi tren Zorba?", passages) == "Liên bang Nga ký kết gì tren Zorba?"
    # Word pairs choose between readings of one folded syllable.
    assert restore("van kien chung", passages) == "văn kiện chung"
    assert restore("chung toi", passages) == "chúng tôi"
    assert restore("", passages) == "" and restore("?!", []) == "?!"


def test_question_phrases_and_numbers_steer_the_restoring():
    storm = ["Cơn bão số 3 gây thiệt hại, bão nhiều ngày.", "Việt Nam và Nam Phi, Nam Định. Năm 2021 có mưa lớn."]
    # Passages rarely ask questions: "bão nhiều" is in the passages, "bao nhiêu" is a
    # question phrase; the year pair is learnt from "Năm 2021" for any number.
    assert restore("co bao nhieu con bao nam 2013", storm) == "có bao nhiêu cơn bão năm 2013"
