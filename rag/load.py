"""Load articles from disk: .txt, .md, .html, .jsonl (one article per line) and .pdf.

Loading only decodes; it does not clean. Every failure is a ``LoadError`` whose
message names the file and says what to do, so the CLI and the UI can show it as is.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from rag.dates import normalise_date

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl", ".pdf")
# Larger than any news article by two orders of magnitude; a bigger file is almost
# certainly a mistake (a dump, a binary) and would stall embedding for minutes.
MAX_FILE_BYTES = 20 * 1024 * 1024


class LoadError(ValueError):
    """A file that cannot be read as articles."""


@dataclass
class RawDocument:
    doc_id: str | None  # the article's own id (JSONL "id"); None: derived when cleaning
    text: str
    path: str
    # Given by structured inputs (.jsonl); otherwise found by cleaning.
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    extra: dict = field(default_factory=dict)


def load_paths(paths: Iterable[str | Path], on_skip: Callable[[str], None] | None = None) -> list[RawDocument]:
    """``load_path`` of each path, where a folder's unreadable file is skipped: ``on_skip``
    hears why, or else a warning is logged."""
    skip = on_skip or (lambda message: log.warning("%s", message))
    return [doc for p in paths for doc in load_path(p, on_skip=skip)]


def load_path(path: str | Path, on_skip: Callable[[str], None] | None = None) -> list[RawDocument]:
    """All articles in a file, or in the supported files under a directory. In a
    directory, a file that cannot be read is skipped, and ``on_skip`` is told why;
    a file named on its own must load, or LoadError says why."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"{path}: no such file or directory")
    if not path.is_dir():
        return load_file(path)
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUPPORTED_SUFFIXES and not p.is_dir())
    if not files:
        raise LoadError(f"{path}: no {', '.join(SUPPORTED_SUFFIXES)} files in this directory")
    docs = []
    for f in files:
        try:
            docs += load_file(f)
        except LoadError as exc:
            if on_skip is None:
                raise
            on_skip(f"skipped {exc}")
    return docs


def load_file(path: str | Path, data: bytes | None = None) -> list[RawDocument]:
    """Articles in one file. ``data`` lets an upload be loaded without touching disk."""
    path = Path(path)
    data_from_disk = data is None
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"{path.name}: unsupported file type '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if data is None:
        data = _read_regular_file(path)
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(
            f"{path.name}: {len(data) / 2**20:.1f} MiB is too large for one article file (limit {MAX_FILE_BYTES // 2**20} MiB); split it"
        )
    # The absolute path, so that an edited file replaces its earlier version (see
    # rag.store.local); it is not the article's id.
    where = str(path.absolute()) if data_from_disk else f"upload:{path.name}"
    if suffix == ".pdf":
        return [RawDocument(None, _pdf_text(path, data), where, url=None)]
    text = decode(data, path.name)
    if suffix == ".jsonl":
        return _jsonl_documents(text, path, where)
    url = None
    if suffix in (".html", ".htm"):
        text, url = html_to_text(text)
    if not text.strip():
        raise LoadError(f"{path.name}: the file has no text")
    return [RawDocument(None, text, where, url=url)]


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file. A FIFO or device named .txt would block a plain
    read forever, so the file is opened non-blocking and checked before reading."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise LoadError(f"{path}: cannot read file ({exc.strerror}); check its permissions") from exc
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise LoadError(f"{path}: not a regular file (a pipe, socket or device); copy the article into a file")
        try:
            return f.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise LoadError(f"{path}: cannot read file ({exc.strerror})") from exc


def decode(data: bytes, name: str) -> str:
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return _decode_as(data, encoding, name)
    if b"\x00" in data[:8192]:
        encoding = _utf16_without_bom(data[:8192])
        if encoding is None:
            raise LoadError(f"{name}: looks like a binary file, not text")
        return _decode_as(data, encoding, name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"{name}: not UTF-8 text (bad byte at offset {exc.start}); convert it first, "
            f"e.g. `iconv -f WINDOWS-1258 -t UTF-8 {name} > fixed.txt`"
        ) from exc


def _decode_as(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise LoadError(f"{name}: not valid {encoding.upper()} text (bad byte at offset {exc.start}); re-save it as UTF-8") from exc


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 saved without a byte order mark. Spaces, digits and Latin letters (most
    of Vietnamese text) are below U+0100, so the high byte of most characters is zero,
    and the head must then decode to text: no NUL or other control character, nothing
    unassigned or private. Binary data fails one or the other (a PNG or a zip has zero
    bytes on both sides, random bytes few). The low byte may be zero too: U+0300, the
    grave accent of decomposed (NFD) Vietnamese, ends in 00, so "almost no zero low
    bytes", the test this once used, called NFD text binary."""
    head = head[: len(head) // 2 * 2]
    for encoding, high_bytes in (("utf-16-le", head[1::2]), ("utf-16-be", head[0::2])):
        if not high_bytes or high_bytes.count(0) / len(high_bytes) <= 0.3:
            continue
        text = head.decode(encoding, errors="replace")
        # A little slack: the head may end inside a surrogate pair.
        if sum(not _is_text_character(ch) for ch in text) <= len(text) // 100:
            return encoding
    return None


def _is_text_character(ch: str) -> bool:
    if ch in "\t\n\r\f\v":
        return True
    return ch != "\ufffd" and unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn")


def _jsonl_documents(text: str, path: Path, where: str) -> list[RawDocument]:
    docs = []
    # split("\n"): JSON strings may hold U+2028, which splitlines() also breaks on.
    for lineno, line in enumerate(text.replace("\r\n", "\n").split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LoadError(f"{path.name}:{lineno}: invalid JSON ({exc.msg})") from exc
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
            raise LoadError(f"{path.name}:{lineno}: each line needs an object with a non-empty string \"text\"")
        for key in ("title", "source", "url", "id", "doc_id"):
            if record.get(key) is not None and not isinstance(record[key], str):
                raise LoadError(f"{path.name}:{lineno}: \"{key}\" must be a string")
        date = record.get("date")
        # A date that is not understood is an error, not silently dropped: "in 2021"
        # questions would then miss the article.
        if date is not None and (isinstance(date, bool) or not isinstance(date, str | int) or not normalise_date(str(date))):
            raise LoadError(f"{path.name}:{lineno}: \"date\" {json.dumps(date)} is not a date; write it as \"2021-12-02\"")
        known = {"id", "doc_id", "title", "date", "source", "url", "text"}
        docs.append(
            RawDocument(
                doc_id=record.get("id") or record.get("doc_id") or None,
                text=str(record["text"]),
                path=f"{where}:{lineno}",
                title=record.get("title"),
                date=normalise_date(str(date)) if date is not None else None,
                source=record.get("source"),
                url=record.get("url"),
                extra={k: v for k, v in record.items() if k not in known},
            )
        )
    if not docs:
        raise LoadError(f"{path.name}: no articles in this JSONL file")
    return docs


def _pdf_text(path: Path, data: bytes) -> str:
    import io

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (FileNotDecryptedError, DependencyError) as exc:
        raise LoadError(f"{path.name}: the PDF is encrypted; save an unprotected copy and add that") from exc
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise LoadError(f"{path.name}: not a readable PDF ({exc})") from exc
    # pypdf breaks lines where the page did; a line that does not end a sentence
    # continues on the next one (hyphenated words are rejoined).
    text = "\n\n".join(re.sub(r"(?<![.!?…:])\n(?!\n)", " ", re.sub(r"-\n(?=\w)", "", page)) for page in pages)
    if not text.strip():
        raise LoadError(f"{path.name}: the PDF has no extractable text (scanned images need OCR first)")
    return text


_BLOCK_TAGS = {
    "p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article", "figcaption", "header", "footer", "blockquote",
}
# Not "form": ASP.NET pages wrap the whole body in one. "head" holds the <title>,
# which repeats the site name; the article's own heading is in the body.
_SKIP_TAGS = {"head", "script", "style", "noscript", "nav", "aside", "svg", "button", "select"}


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.url: str | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = dict(attrs)
        # The canonical URL identifies the article across captures of the same page.
        if tag == "link" and (attributes.get("rel") or "").lower() == "canonical" and attributes.get("href"):
            self.url = self.url or attributes["href"]
        elif tag == "meta" and attributes.get("property") == "og:url" and attributes.get("content"):
            self.url = self.url or attributes["content"]
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> tuple[str, str | None]:
    """The page's visible text, and its canonical URL if it declares one."""
    parser = _TextExtractor()
    parser.feed(html)
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip(), parser.url
