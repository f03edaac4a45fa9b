"""Turn a raw web capture into the article text a reader would see.

The rules are about how Vietnamese news pages are captured, not about particular
files: page furniture, photo markers and credits, headings repeated as image alt text,
duplicated paragraphs, and the "related news" lists that follow an article. The output
keeps one paragraph per line; offsets of chunks and quotes refer to it.

Photo captions are kept, each on a line of its own that starts with ``CAPTION_MARK``: a
caption can hold the only mention of a fact (the "4 không" policy, the Empress in the
seeds). Chunking keeps caption lines in chunks of their own, retrieval weighs them down
(rag.retrieve.CAPTION_PENALTY), and a citation of one says it is a caption.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from rag.dates import normalise_date, parse_published
from rag.load import RawDocument
from rag.text import fold, nfc


@dataclass
class Article:
    doc_id: str
    title: str
    text: str  # cleaned; title excluded; one paragraph per line
    date: str | None
    source: str | None
    url: str | None
    path: str
    content_hash: str  # of the raw text: re-indexing skips articles whose hash is unchanged
    # Where doc_id comes from: "id" (given by the article), "url", or "content" (a hash
    # of the text). Never the file name: two folders may both hold a "news.txt".
    identity: str = "content"


# Everything from one of these headings to the end is a list of other articles.
_TRAILER_HEADINGS = {
    fold(h)
    for h in (
        "Tin bài liên quan", "Các tin bài khác", "Đọc nhiều", "Tin cùng chuyên mục", "Tin liên quan",
        "Bài viết liên quan", "Tin khác", "Xem thêm", "Có thể bạn quan tâm", "Tin mới nhất", "Đọc tiếp",
    )
}
# Lines that are page chrome, never article text.
_FURNITURE = re.compile(
    r"^(?:in bai viet|xin cho trong giay lat\W*|phien ban di dong|aa|nguon:?|chia se|"
    r"trang chu\b.{0,60}|theo doi .{0,40} tren google news|lien he quang cao)$"
)
# "... - Ảnh 1." marks where a photo was; "(Ảnh: Trọng Đức/TTXVN)" is a photo credit.
_PHOTO_MARKER = re.compile(r"(?:^|[\s-])Ảnh\s*\d+\.?$")
_PHOTO_CREDIT_LINE = re.compile(r"^\(?\s*Ảnh\s*:\s*[^()]{1,60}\)?\.?$|\(Ảnh:\s*[^()]{1,60}\)\s*$")
# A caption glued into running text: "... Hoàng hậu Masako Ảnh: TTXVNNêu rõ ...".
_INLINE_CAPTION = re.compile(r"(?<=[.!?…])([^.!?…]{0,300}?)\s*Ảnh:\s*([A-ZĐ][A-Za-zĐđ/+.]*?[A-ZĐ+])(?=[A-ZĐÀ-Ỹ][a-zà-ỹđ]|\s|$)")
_DATELINE = re.compile(r"^(?:\d{1,2}:\d{2}\s*[|\-–,]\s*)?\d{1,2}/\d{1,2}/\d{4}(?:\s*(?:GMT|UTC)[+-]?\d*)?$")
_SOURCE_PATTERNS = (
    re.compile(r"^\(([^()]{2,40})\)\s*$"),  # "(TTXVN/Vietnam+)" on its own line
    re.compile(r"^Theo\s+([^.,]{2,40})$"),  # "Theo Báo Chính phủ/VGP"
    re.compile(r"^\(([A-Za-zĐđ.+/ ]{2,30})\)\s*[-–]"),  # "(Chinhphu.vn) - Đại tướng ..."
)
# "Nguồn: Báo Quân đội nhân dân": the site's credit line, at the article's end. The
# credit is metadata, not article text; "Nguồn:" with nothing after it is furniture.
_SOURCE_LINE = re.compile(r"^Nguồn\s*:\s*([^.!?]{2,60}?)\.?$", re.IGNORECASE)
# How far from the end a credit line may sit (a photo credit or a tag line may follow it).
_SOURCE_LINE_TAIL = 3
# A caption is one short sentence ending in a full stop; a heading has no full stop.
_CAPTION_MAX_CHARS = 250
# Starts every caption line of a cleaned text: a camera, readable in any language and
# never a lexical token. Text given with such lines (JSONL) is read the same way.
CAPTION_MARK = "\U0001F4F7 "
# Part of every article's content hash: cleaning that changes (captions kept, from
# version 2) makes the next `rag index` of the same file re-clean it ("replaced").
CLEANING_VERSION = 2


def clean(raw: RawDocument) -> Article:
    lines = [_normalise_space(line) for line in nfc(raw.text).splitlines()]
    lines = [line for line in lines if line]
    lines = _cut_trailer(lines)
    lines, credited = _take_source_line(lines)
    published = normalise_date(raw.date) or parse_published("\n".join(lines))
    lines = [line for line in lines if not _DATELINE.match(line) and not _FURNITURE.match(fold(line))]

    if raw.title:
        title, body = nfc(raw.title).strip(), lines
    elif len(lines) > 1 and _looks_like_title(lines[0]):
        title, body = lines[0], lines[1:]
    else:  # one paragraph, or no heading line: keep all the text, name it by its file
        title, body = Path(raw.path.removeprefix("upload:").split(":")[0]).stem or "untitled", lines
    body = _drop_photos_and_duplicates(body, title)
    source = raw.source or credited or _find_source(body)
    text = "\n".join(body)
    doc_id, identity = article_id(raw)
    return Article(
        doc_id=doc_id,
        title=title,
        text=text,
        date=published,
        source=source,
        url=raw.url,
        path=raw.path,
        # Metadata is hashed too: a corrected JSONL date or title is a change to index.
        content_hash=hashlib.sha256("\x1f".join(map(str, (raw.text, raw.title, raw.date, raw.source, raw.url,
                                                             CLEANING_VERSION))).encode()).hexdigest(),
        identity=identity,
    )


def article_id(raw: RawDocument) -> tuple[str, str]:
    """(doc_id, identity): the article's own id, else its URL, else its text. The same
    article indexed twice gets the same id (a no-op); two articles never share one."""
    if raw.doc_id:
        return raw.doc_id, "id"
    if raw.url:
        return hashlib.sha256(raw.url.strip().encode()).hexdigest()[:16], "url"
    return hashlib.sha256(nfc(raw.text).encode()).hexdigest()[:16], "content"


def _looks_like_title(line: str) -> bool:
    """A heading: short, and not a paragraph of several sentences."""
    return len(line) <= 250 and line.rstrip(".").count(". ") == 0


def _normalise_space(line: str) -> str:
    return re.sub(r"\s+", " ", line.replace("\u00a0", " ")).strip()


def _cut_trailer(lines: list[str]) -> list[str]:
    for i, line in enumerate(lines):
        if fold(line).rstrip(":") in _TRAILER_HEADINGS and i > 0:
            return lines[:i]
    return lines


def _is_doubled(line: str) -> bool:
    """"X X": a link list entry whose title and image alt text were captured together.
    Headlines are short; a long line that repeats itself is text, however odd."""
    half = len(line) // 2
    return 20 < len(line) <= 400 and line[:half].strip() == line[half:].strip()


def _drop_photos_and_duplicates(lines: list[str], title: str) -> list[str]:
    kept: list[str] = []
    seen = {fold(title)}
    skip_caption = False
    skip_teaser = False
    for line in lines:
        key = fold(line)
        if skip_teaser:  # the one-paragraph summary under a related-article link
            skip_teaser = False
            continue
        if _is_doubled(line):
            skip_teaser = True
            continue
        is_title_repeat = key == fold(title)
        if _PHOTO_MARKER.search(line) or (is_title_repeat and kept):
            skip_caption = True  # a photo stood here; its caption may follow
            continue
        if key in seen:
            continue
        seen.add(key)
        if skip_caption:
            skip_caption = False
            if len(line) <= _CAPTION_MAX_CHARS and line.endswith(".") and line.count(". ") == 0:
                kept.append(CAPTION_MARK + line)
                continue
        if credit := _PHOTO_CREDIT_LINE.search(line):
            # "Caption. (Ảnh: Trọng Đức/TTXVN)": the caption stays, the credit goes.
            if caption := line[: credit.start()].strip():
                kept.append(CAPTION_MARK + caption)
            continue
        kept.extend(_split_inline_captions(line))
    return kept


def _split_inline_captions(line: str) -> list[str]:
    """A paragraph with captions glued into it, as lines: the text before each caption,
    the caption (marked), the text after."""
    out, cut = [], 0
    for m in _INLINE_CAPTION.finditer(line):
        out += [line[cut : m.start()].strip(), CAPTION_MARK + m[1].strip() if m[1].strip() else ""]
        cut = m.end()
    out.append(line[cut:].strip())
    return [piece for piece in out if piece]


def caption_lines(text: str) -> list[tuple[int, int]]:
    """Offsets (start, end) of the caption lines of a cleaned text."""
    spans, start = [], 0
    for line in text.split("\n"):
        if line.startswith(CAPTION_MARK):
            spans.append((start, start + len(line)))
        start += len(line) + 1
    return spans


def _take_source_line(lines: list[str]) -> tuple[list[str], str | None]:
    """The lines without a "Nguồn: …" credit near the end, and the source it names.
    Only near the end: "Nguồn: Tổng cục Thống kê" under a table mid-article credits the
    figures, not the article, and stays in the text."""
    start = max(0, len(lines) - _SOURCE_LINE_TAIL)
    for i in range(len(lines) - 1, start - 1, -1):
        if m := _SOURCE_LINE.match(lines[i]):
            return lines[:i] + lines[i + 1 :], m[1].strip()
    return lines, None


def _find_source(lines: list[str]) -> str | None:
    for line in reversed(lines[-3:]):
        for pattern in _SOURCE_PATTERNS[:2]:
            if m := pattern.match(line):
                return m[1].strip()
    for line in lines[:3]:
        if m := _SOURCE_PATTERNS[2].match(line):
            return m[1].strip()
    return None
