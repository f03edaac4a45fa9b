"""Cleaning and loading on the real seed captures."""

from __future__ import annotations

import hashlib
import json
import os
import unicodedata
from pathlib import Path

import pytest

from rag.clean import CAPTION_MARK, CLEANING_VERSION, caption_lines, clean
from rag.load import LoadError, load_file, load_path
from tests.conftest import NFD_ARTICLE, SEEDS, binary_samples


@pytest.fixture(scope="module")
def articles():
    return {a.doc_id: a for a in (clean(raw) for raw in load_path(SEEDS))}


def test_all_five_seeds_load(articles):
    # Named by their content (sha256 of the text), never by their file names.
    expected = {hashlib.sha256(p.read_text("utf-8").encode()).hexdigest()[:16] for p in SEEDS.glob("*.txt")}
    assert set(articles) == expected and len(articles) == 5
    assert all(a.identity == "content" for a in articles.values())


def test_related_news_trailers_are_cut(articles):
    assert "Đại hội XIV" not in articles["2984af66f89cc659"].text
    assert "Tin bài liên quan" not in articles["2984af66f89cc659"].text
    assert "chế độ nghỉ phép" not in articles["fcbcc136c822d78f"].text
    assert "TIN CÙNG CHUYÊN MỤC" not in articles["fcbcc136c822d78f"].text


def test_related_links_before_the_credit_are_dropped(articles):
    # "X X" link lines and their teasers sit above "Theo Báo Chính phủ/VGP" in 003.
    text = articles["2984af66f89cc659"].text
    assert "Gennady Zyuganov" not in text and "Grigory Trofimchuk" not in text
    assert text.rstrip().endswith("Theo Báo Chính phủ/VGP")


def test_page_furniture_and_photo_markers_are_dropped(articles):
    joined = "\n".join(a.text for a in articles.values())
    for junk in ("In bài viết", "Xin chờ trong giây lát", "Phiên bản di động", "Ảnh 1.", "Ảnh: TTXVN", "(Ảnh: Trọng Đức/TTXVN)"):
        assert junk not in joined, junk
    assert "aa" not in articles["2984af66f89cc659"].text.splitlines()


def captions(article) -> list[str]:
    return [article.text[s:e] for s, e in caption_lines(article.text)]


def test_photo_captions_are_kept_on_marked_lines(articles):
    # After a photo marker (002), before a photo credit (004), and glued into running
    # text (001): each caption on a line of its own that says it is one.
    assert captions(articles["2fda3e61c4dbe223"]) == [
        CAPTION_MARK + "Bộ trưởng Phan Văn Giang và Bộ trưởng Andrey Removich Belousov.",
        CAPTION_MARK + "Bộ trưởng Phan Văn Giang nêu rõ quan điểm và chính sách quốc phòng “4 không” của Việt Nam nhằm mục "
        "đích hòa bình, tự vệ, bảo vệ Tổ quốc từ sớm, từ xa.",
    ]
    assert captions(articles["fcbcc136c822d78f"]) == [
        CAPTION_MARK + "Các nữ sỹ quan, quân nhân Việt Nam đã và đang chuẩn bị tham gia lực Gìn giữ hòa bình."]
    text_001 = articles["24bbc7acd39ad745"].text
    assert captions(articles["24bbc7acd39ad745"]) == [
        CAPTION_MARK + "Chủ tịch Quốc hội Trần Thanh Mẫn và Phu nhân hội kiến Nhà vua Naruhito cùng Hoàng hậu Masako"]
    assert "\nNêu rõ Nhật Bản và VN vừa kỷ niệm 50 năm" in text_001, "the text after the glued caption stays, on its own line"
    # Headings after a photo have no full stop: text, not captions.
    assert all("Nga sẵn sàng xem xét" not in c for a in articles.values() for c in captions(a))
    # 003's photos repeat the title as alt text; the caption under each is kept too.
    assert len(captions(articles["2984af66f89cc659"])) == 3
    assert captions(articles["928598893a65ddec"]) == []


def test_a_new_cleaning_version_is_a_content_change(tmp_path):
    # Indexes cleaned before captions were kept get the captions at the next `rag index`.
    path = tmp_path / "a.txt"
    path.write_text("Tiêu đề\nMột đoạn văn.", encoding="utf-8")
    raw = load_file(path)[0]
    assert clean(raw).content_hash == clean(raw).content_hash
    expected = hashlib.sha256("\x1f".join(map(str, (raw.text, raw.title, raw.date, raw.source, raw.url,
                                                      CLEANING_VERSION))).encode()).hexdigest()
    assert clean(raw).content_hash == expected


def test_repeated_title_and_paragraph_appear_once(articles):
    a = articles["928598893a65ddec"]
    assert a.title == "Hợp Tác Quốc Phòng Việt Nam Nhật Bản"
    assert a.title not in a.text
    assert a.text.count("Hai bên thống nhất thúc đẩy quan hệ hợp tác quốc phòng bước vào giai đoạn phát triển mới") == 1
    t3 = articles["2984af66f89cc659"]
    assert t3.title not in t3.text  # the title repeated as image alt text


def test_section_headings_after_photos_are_kept(articles):
    assert "Nga sẵn sàng xem xét các đề xuất hợp tác của Bộ Quốc phòng Việt Nam" in articles["2fda3e61c4dbe223"].text


def test_metadata(articles):
    a2, a3, a4 = articles["2fda3e61c4dbe223"], articles["2984af66f89cc659"], articles["fcbcc136c822d78f"]
    assert (a2.date, a2.source) == ("2024-08-14", "Chinhphu.vn")
    assert (a3.date, a3.source) == ("2021-12-02", "Báo Chính phủ/VGP")
    assert a4.source == "TTXVN/Vietnam+"
    assert a3.title.startswith("Việt Nam - Liên Bang Nga: Thúc đẩy hơn nữa")
    assert articles["928598893a65ddec"].date is None  # the capture carries no date


def test_source_credit_is_kept_in_text(articles):
    assert "(TTXVN/Vietnam+)" in articles["fcbcc136c822d78f"].text
    assert "(Chinhphu.vn)" in articles["2fda3e61c4dbe223"].text


@pytest.mark.parametrize("credit, source", [
    ("Nguồn: Báo Quân đội nhân dân", "Báo Quân đội nhân dân"),
    ("Nguồn: VnExpress", "VnExpress"),
    ("NGUỒN: VnExpress.", "VnExpress"),
])
def test_nguon_line_is_the_source_not_text(articles, tmp_path, credit, source):
    # The seed on Vietnam-Japan defence ties carries no credit; captured with the site's
    # "Nguồn: …" line at its end, that line names the source and leaves the text as it was.
    seed = (SEEDS / "000_0b8d2cb8de87471d.txt").read_text("utf-8")
    article = clean(load_file(tmp_path / "qdnd.txt", f"{seed.rstrip()}\n\n{credit}\n".encode())[0])
    assert article.source == source
    assert article.text == articles["928598893a65ddec"].text and "Nguồn" not in article.text
    assert articles["928598893a65ddec"].source is None


def test_nguon_mid_article_credits_a_figure_and_stays(tmp_path):
    text = ("Xuất khẩu thủy sản tăng mạnh năm 2024\n"
            "Kim ngạch xuất khẩu thủy sản năm 2024 đạt 10 tỷ USD, tăng 12% so với năm trước.\n"
            "Nguồn: Tổng cục Thống kê\n"
            "Các doanh nghiệp kỳ vọng thị trường Nhật Bản và Hàn Quốc tiếp tục mở rộng.\n"
            "Mỹ vẫn là thị trường lớn nhất của tôm Việt Nam.\n"
            "Trung Quốc đứng thứ hai về nhập khẩu cá tra.\n")
    article = clean(load_file(tmp_path / "thuy_san.txt", text.encode())[0])
    assert "Nguồn: Tổng cục Thống kê" in article.text and article.source is None


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
    assert [d.doc_id for d in docs] == [hashlib.sha256(b"http://x").hexdigest()[:16], "b"]  # the URL, then the id
    assert [d.identity for d in docs] == ["url", "id"]
    assert docs[0].title == "Tiêu đề A" and docs[0].date == "2023-05-01" and docs[0].url == "http://x"
    assert docs[1].date == "2023-06-01" and docs[1].text == "Nội dung B."

    html = tmp_path / "page.html"
    html.write_text("<html><head><style>p{}</style><script>x()</script></head><body><h1>Tin A</h1><p>Câu một.</p>"
                    "<p>Câu hai &amp; ba.</p></body></html>", encoding="utf-8")
    doc = clean(load_file(html)[0])
    assert doc.title == "Tin A" and doc.text == "Câu một.\nCâu hai & ba."
    canonical = tmp_path / "canonical.html"
    canonical.write_text('<html><head><link rel="canonical" href="https://bao.vn/tin-a.html"></head><body><h1>Tin A</h1>'
                         "<p>Câu một.</p></body></html>", encoding="utf-8")
    assert clean(load_file(canonical)[0]).url == "https://bao.vn/tin-a.html"

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


def test_utf16_without_bom_is_text(tmp_path):
    text = "Việt Nam và Nga ký thỏa thuận hợp tác quốc phòng.\nHai bên nhất trí tăng cường trao đổi đoàn."
    for encoding in ("utf-16-le", "utf-16-be"):
        assert load_file(tmp_path / "x.txt", text.encode(encoding))[0].text == text


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_in_nfd_is_text(tmp_path, encoding):
    """Was "looks like a binary file": the heuristic wanted the low byte of almost every
    character to be non-zero, which U+0300 (grave accent, decomposed) is not."""
    path = tmp_path / "nfd.txt"
    path.write_bytes(NFD_ARTICLE.encode(encoding))
    [raw] = load_file(path)
    assert raw.text == NFD_ARTICLE
    article = clean(raw)
    assert article.title == "Hà Nội khánh thành cầu vượt mới" and unicodedata.is_normalized("NFC", article.text)
    assert article.text == unicodedata.normalize("NFC", NFD_ARTICLE.split("\n", 1)[1]).strip()


@pytest.mark.parametrize("kind", ["random", "png", "zip"])
def test_binary_files_with_zero_bytes_are_still_refused(tmp_path, kind):
    path = tmp_path / f"{kind}.txt"
    path.write_bytes(binary_samples()[kind])
    with pytest.raises(LoadError, match=f"^{kind}.txt: looks like a binary file, not text$"):
        load_file(path)


@pytest.mark.parametrize("date, expected", [(2021, "2021"), ("02/12/2021", "2021-12-02"), (True, None), ("soon", None), (3.5, None)])
def test_jsonl_dates_are_read_or_refused_never_dropped(tmp_path, date, expected):
    line = json.dumps({"text": "Nội dung.", "date": date}).encode()
    if expected is None:
        with pytest.raises(LoadError, match=r"x.jsonl:1: \"date\""):
            load_file(tmp_path / "x.jsonl", line)
    else:
        assert load_file(tmp_path / "x.jsonl", line)[0].date == expected


def test_special_and_unreadable_files_in_a_folder_are_skipped(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text("Tiêu đề\nNội dung tốt.", "utf-8")
    os.mkfifo(folder / "pipe.txt")
    (folder / "bad.txt").write_bytes(b"\xff\xfe\xfa" * 10 + b"\xc3")
    (folder / "dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    skipped: list[str] = []
    docs = load_path(folder, on_skip=skipped.append)
    assert [Path(d.path).name for d in docs] == ["good.txt"]
    assert len(skipped) == 3 and all(any(n in m for m in skipped) for n in ("bad.txt", "dangling.txt", "pipe.txt")), skipped
    with pytest.raises(LoadError, match="not a regular file"):
        load_path(folder / "pipe.txt")


def test_metadata_change_is_a_content_change(tmp_path):
    lines = [json.dumps({"id": "a", "title": "T", "date": d, "text": "Nội dung."}) for d in ("2021-01-01", "2021-01-02")]
    first, second = (clean(load_file(tmp_path / "x.jsonl", line.encode())[0]) for line in lines)
    assert first.content_hash != second.content_hash
