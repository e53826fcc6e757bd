"""Read .md, .txt, .html and .pdf files into ``Document``s (HTML and PDF headings become ``#`` lines)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from rag.chunking import Document

SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")
FRONT_TITLE = re.compile(r"<!--.*?\btitle:\s*(.+?)\s*-->")


def find_files(path: Path) -> list[Path]:
    """The supported files at ``path`` (a file, or a directory searched recursively), sorted."""
    if path.is_file():
        if path.suffix.lower() not in SUFFIXES:
            raise ValueError(f"{path}: unsupported file type (supported: {', '.join(SUFFIXES)})")
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or directory: {path}")
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def load_documents(path: Path, base_uri: str = "") -> Iterator[Document]:
    """Documents under ``path``; each one's ``source`` is its path relative to ``path`` (or its name)."""
    root = path if path.is_dir() else path.parent
    for file in find_files(path):
        source = file.relative_to(root).as_posix()
        yield load_file(file, source, f"{base_uri}{source}" if base_uri else "")


def load_file(file: Path, source: str, uri: str = "") -> Document:
    suffix = file.suffix.lower()
    if suffix == ".pdf":
        text, title = _pdf(file)
    elif suffix in (".html", ".htm"):
        text, title = _html(file.read_text(encoding="utf-8", errors="replace"))
    else:
        text = file.read_text(encoding="utf-8", errors="replace")
        title = _markdown_title(text)
    return Document(text=text, source=source, title=title or file.stem, uri=uri)


def _markdown_title(text: str) -> str:
    if match := FRONT_TITLE.search(text[:500]):
        return match.group(1)
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def _pdf(file: Path) -> tuple[str, str]:
    from pypdf import PdfReader

    reader = PdfReader(file)
    pages = [page.extract_text() or "" for page in reader.pages]
    title = str(reader.metadata.title) if reader.metadata and reader.metadata.title else ""
    return "\n\n".join(p.strip() for p in pages if p.strip()), title


class _HtmlText(HTMLParser):
    """Collects visible text; ``<h1>``..``<h6>`` become Markdown headings, block elements break paragraphs."""

    BLOCKS = {"p", "div", "section", "article", "li", "ul", "ol", "table", "tr", "br", "blockquote", "pre", "main"}
    HIDDEN = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self.HIDDEN:
            self._hidden += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data.strip()
        if not self._hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def _html(markup: str) -> tuple[str, str]:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    lines = [line.strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip(), parser.title
