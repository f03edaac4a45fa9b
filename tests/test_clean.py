"""Cleaning and loading on the real seed captures."""

from __future__ import annotations

import json

import pytest

from rag.clean import clean
from rag.load import LoadError, load_file, load_path
from tests.conftest import SEEDS


@pytest.fixture(scope="module")
def articles():
    return {a.doc_id: a for a in (clean(raw) for raw in load_path(SEEDS))}


def test_all_five_seeds_load(articles):
    assert sorted(articles) == sorted(p.stem for p in SEEDS.glob("*.txt"))
    assert len(articles) == 5


def test_related_news_trailers_are_cut(articles):
    assert "Đại hội XIV" not in articles["003_6840ef67f51442b0"].text
    assert "Tin bài liên quan" not in articles["003_6840ef67f51442b0"].text
    assert "chế độ nghỉ phép" not in articles["004_ed8cdf30e0db6200"].text
    assert "TIN CÙNG CHUYÊN MỤC" not in articles["004_ed8cdf30e0db6200"].text


def test_related_links_before_the_credit_are_dropped(articles):
    # "X X" link lines and their teasers sit above "Theo Báo Chính phủ/VGP" in 003.
    text = articles["003_6840ef67f51442b0"].text
    assert "Gennady Zyuganov" not in text and "Grigory Trofimchuk" not in text
    assert text.rstrip().endswith("Theo Báo Chính phủ/VGP")


def test_page_furniture_and_photo_captions_are_dropped(articles):
    joined = "\n".join(a.text for a in articles.values())
    for junk in ("In bài viết", "Xin chờ trong giây lát", "Phiên bản di động", "Ảnh 1.", "Ảnh: TTXVN", "(Ảnh: Trọng Đức/TTXVN)"):
        assert junk not in joined, junk
    assert "aa" not in articles["003_6840ef67f51442b0"].text.splitlines()
    # The caption glued into running text in 001 is gone, the sentences around it stay.
    text_001 = articles["001_e222243bbab17326"].text
    assert "Hoàng hậu Masako" not in text_001
    assert "Nêu rõ Nhật Bản và VN vừa kỷ niệm 50 năm" in text_001


def test_repeated_title_and_paragraph_appear_once(articles):
    a = articles["000_0b8d2cb8de87471d"]
    assert a.title == "Hợp Tác Quốc Phòng Việt Nam Nhật Bản"
    assert a.title not in a.text
    assert a.text.count("Hai bên thống nhất thúc đẩy quan hệ hợp tác quốc phòng bước vào giai đoạn phát triển mới") == 1
    t3 = articles["003_6840ef67f51442b0"]
    assert t3.title not in t3.text  # the title repeated as image alt text


def test_section_headings_after_photos_are_kept(articles):
    assert "Nga sẵn sàng xem xét các đề xuất hợp tác của Bộ Quốc phòng Việt Nam" in articles["002_0f89e1410a4163cd"].text


def test_metadata(articles):
    a2, a3, a4 = articles["002_0f89e1410a4163cd"], articles["003_6840ef67f51442b0"], articles["004_ed8cdf30e0db6200"]
    assert (a2.date, a2.source) == ("2024-08-14", "Chinhphu.vn")
    assert (a3.date, a3.source) == ("2021-12-02", "Báo Chính phủ/VGP")
    assert a4.source == "TTXVN/Vietnam+"
    assert a3.title.startswith("Việt Nam - Liên Bang Nga: Thúc đẩy hơn nữa")
    assert articles["000_0b8d2cb8de87471d"].date is None  # the capture carries no date


def test_source_credit_is_kept_in_text(articles):
    assert "(TTXVN/Vietnam+)" in articles["004_ed8cdf30e0db6200"].text
    assert "(Chinhphu.vn)" in articles["002_0f89e1410a4163cd"].text


def test_text_is_nfc(articles):
    import unicodedata

    for a in articles.values():
        assert unicodedata.is_normalized("NFC", a.text)


def test_jsonl_html_and_md_loaders(tmp_path):
    records = [
        {"title": "Tiêu đề A", "date": "2023-05-01", "source": "VnExpress", "text": "Đoạn một về hợp tác.\n\nĐoạn hai.", "url": "http://x"},
        {"id": "b", "title": "Tiêu đề B", "date": "01/06/2023", "source": "Tuổi Trẻ", "text": "Nội dung B."},
    ]
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    docs = [clean(d) for d in load_file(path)]
    assert [d.doc_id for d in docs] == ["news_0001", "b"]
    assert docs[0].title == "Tiêu đề A" and docs[0].date == "2023-05-01" and docs[0].url == "http://x"
    assert docs[1].date == "2023-06-01" and docs[1].text == "Nội dung B."

    html = tmp_path / "page.html"
    html.write_text("<html><head><style>p{}</style><script>x()</script></head><body><h1>Tin A</h1><p>Câu một.</p>"
                    "<p>Câu hai &amp; ba.</p></body></html>", encoding="utf-8")
    doc = clean(load_file(html)[0])
    assert doc.title == "Tin A" and doc.text == "Câu một.\nCâu hai & ba."

    md = tmp_path / "note.md"
    md.write_text("Tiêu đề\n\nNội dung.", encoding="utf-8")
    assert clean(load_file(md)[0]).text == "Nội dung."


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("x.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("x.txt", "Hợp tác".encode("cp1258", errors="replace") + b"\xe0\xe1", "not UTF-8"),
        ("x.txt", b"   \n ", "no text"),
        ("x.jsonl", b'{"text": "ok"}\nnot json', "invalid JSON"),
        ("x.docx", b"PK", "unsupported"),
        ("x.pdf", b"%PDF-1.4 broken", "PDF"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, name, data, message):
    with pytest.raises(LoadError, match=message):
        load_file(tmp_path / name, data)


def test_missing_path():
    with pytest.raises(LoadError, match="no such file"):
        load_path("/nonexistent/dir")


def test_one_paragraph_article_keeps_its_text(tmp_path):
    paragraph = " ".join(f"Ngày {d}/3/2025, hai bên ký văn kiện hợp tác số {d}." for d in range(1, 29))
    article = clean(load_file(tmp_path / "mot_dong.txt", paragraph.encode("utf-8"))[0])
    assert article.text == paragraph.strip() and article.title == "mot_dong"


def test_jsonl_fields_must_be_strings(tmp_path):
    for line, message in ((b'{"text": null}', "string"), (b'{"text": "ok", "title": 123}', "title")):
        with pytest.raises(LoadError, match=message):
            load_file(tmp_path / "x.jsonl", line)


def test_jsonl_with_line_separator_characters(tmp_path):
    record = {"title": "Tựa\u2028đề", "text": "Câu một.\nCâu hai."}
    docs = load_file(tmp_path / "x.jsonl", (json.dumps(record, ensure_ascii=False) + "\r\n").encode("utf-8"))
    assert len(docs) == 1 and docs[0].title == "Tựa\u2028đề"


def test_html_inside_a_form_is_kept(tmp_path):
    page = "<html><head><title>Tin | Báo</title></head><body><form id='f1'><h1>Tựa</h1><p>Câu một.</p></form></body></html>".encode()
    article = clean(load_file(tmp_path / "aspx.html", page)[0])
    assert article.title == "Tựa" and article.text == "Câu một."


def test_metadata_change_is_a_content_change(tmp_path):
    lines = [json.dumps({"id": "a", "title": "T", "date": d, "text": "Nội dung."}) for d in ("2021-01-01", "2021-01-02")]
    first, second = (clean(load_file(tmp_path / "x.jsonl", line.encode())[0]) for line in lines)
    assert first.content_hash != second.content_hash
