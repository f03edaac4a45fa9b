"""Load articles from disk: .txt, .md, .html, .jsonl (one article per line) and .pdf.

Loading only decodes; it does not clean. Every failure is a ``LoadError`` whose
message names the file and says what to do, so the CLI and the UI can show it as is.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl", ".pdf")
# Larger than any news article by two orders of magnitude; a bigger file is almost
# certainly a mistake (a dump, a binary) and would stall embedding for minutes.
MAX_FILE_BYTES = 20 * 1024 * 1024


class LoadError(ValueError):
    """A file that cannot be read as articles."""


@dataclass
class RawDocument:
    doc_id: str
    text: str
    path: str
    # Given by structured inputs (.jsonl); otherwise found by cleaning.
    title: str | None = None
    date: str | None = None
    source: str | None = None
    url: str | None = None
    extra: dict = field(default_factory=dict)


def load_path(path: str | Path) -> list[RawDocument]:
    """All articles in a file, or in the supported files under a directory."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"{path}: no such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)
        if not files:
            raise LoadError(f"{path}: no {', '.join(SUPPORTED_SUFFIXES)} files in this directory")
        return [doc for f in files for doc in load_file(f)]
    return load_file(path)


def load_file(path: str | Path, data: bytes | None = None) -> list[RawDocument]:
    """Articles in one file. ``data`` lets an upload be loaded without touching disk."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(f"{path.name}: unsupported file type '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise LoadError(f"{path}: cannot read file ({exc.strerror})") from exc
    if len(data) > MAX_FILE_BYTES:
        raise LoadError(
            f"{path.name}: {len(data) / 2**20:.1f} MiB is too large for one article file (limit {MAX_FILE_BYTES // 2**20} MiB); split it"
        )
    doc_id = path.stem
    if suffix == ".pdf":
        return [RawDocument(doc_id, _pdf_text(path, data), str(path))]
    text = decode(data, path.name)
    if suffix == ".jsonl":
        return _jsonl_documents(text, path)
    if suffix in (".html", ".htm"):
        text = html_to_text(text)
    if not text.strip():
        raise LoadError(f"{path.name}: the file has no text")
    return [RawDocument(doc_id, text, str(path))]


def decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoadError(f"{name}: looks like a binary file, not text")
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(encoding)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"{name}: not UTF-8 text (bad byte at offset {exc.start}); convert it first, "
            f"e.g. `iconv -f WINDOWS-1258 -t UTF-8 {name} > fixed.txt`"
        ) from exc


def _jsonl_documents(text: str, path: Path) -> list[RawDocument]:
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
        if record.get("date") is not None and not isinstance(record["date"], str | int):
            raise LoadError(f"{path.name}:{lineno}: \"date\" must be a string such as \"2021-12-02\"")
        doc_id = str(record.get("id") or record.get("doc_id") or f"{path.stem}_{lineno:04d}")
        known = {"id", "doc_id", "title", "date", "source", "url", "text"}
        docs.append(
            RawDocument(
                doc_id=doc_id,
                text=str(record["text"]),
                path=f"{path}:{lineno}",
                title=record.get("title"),
                date=str(record["date"]) if record.get("date") is not None else None,
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
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
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


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()
