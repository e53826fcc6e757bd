"""Heading-aware chunking with overlap; chunk ids are content hashes, so re-ingesting is idempotent."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from rag.base import Chunk

HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
CLAUSE = re.compile(r"^([A-Z][A-Z0-9]{1,9}-\d+(?:\.\d+)*)\b[\s:.\-—–]*(.*)$")
COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
FENCE = re.compile(r"^\s*(```|~~~)")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


@dataclass(frozen=True)
class Document:
    """Text to chunk, headings written as Markdown ``#`` lines; ``source`` is its path under the ingest root."""

    text: str
    source: str
    title: str = ""
    uri: str = ""


@dataclass(frozen=True)
class ChunkingConfig:
    max_chars: int = 1000  # ~220 MiniLM tokens: a chunk is embedded whole (the model reads 256)
    overlap_chars: int = 150  # tail of one window repeated at the head of the next, in whole sentences
    min_chars: int = 20  # sections with less text than this (stray lines) are dropped


@dataclass
class _Section:
    headings: list[str]
    body: list[str]


def chunk_id(source: str, text: str) -> str:
    """A stable id from the chunk's document and content: the same text re-ingested gets the same id."""
    return hashlib.sha256(f"{source}\x1f{text}".encode()).hexdigest()[:32]


def chunk_document(doc: Document, config: ChunkingConfig | None = None) -> list[Chunk]:
    """Split a document by headings; a clause heading (``### ID Title``) becomes its own chunk(s)."""
    config = config or ChunkingConfig()
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for number, section in enumerate(_sections(doc.text)):
        body = "\n".join(section.body).strip()
        if len(body) < config.min_chars:
            continue
        heading = section.headings[-1] if section.headings else ""
        clause, title = _clause(heading)
        anchor = clause or _slug(heading) or f"part-{number + 1}"
        source_id = clause or (f"{doc.source}#{anchor}" if heading else f"{doc.source}#{number + 1}")
        windows = list(split_text(body, config.max_chars, config.overlap_chars))
        for part, window in enumerate(windows):
            text = f"{heading}\n\n{window}" if heading else window
            ident = chunk_id(doc.source, text)
            if ident in seen:
                continue
            seen.add(ident)
            chunks.append(
                Chunk(
                    source_id=source_id,
                    text=text,
                    title=title or heading or doc.title,
                    uri=f"{doc.uri}#{anchor}" if doc.uri else f"{doc.source}#{anchor}",
                    clause=clause,
                    source=doc.source,
                    chunk_id=ident,
                    meta={"part": part, "parts": len(windows), "section": " > ".join(section.headings[:-1])},
                )
            )
    return chunks


def split_text(text: str, max_chars: int, overlap_chars: int) -> Iterator[str]:
    """Pack paragraphs (then sentences) into windows of at most ``max_chars``, overlapping by whole sentences."""
    if len(text) <= max_chars:
        yield text
        return
    units = [u for p in re.split(r"\n\s*\n", text) for u in _sentences(p.strip(), max_chars) if u]
    window: list[str] = []
    size = 0
    for unit in units:
        if window and size + len(unit) + 1 > max_chars:
            yield " ".join(window)
            window = _tail(window, overlap_chars, max_chars - len(unit) - 1)
            size = sum(len(u) + 1 for u in window)
        window.append(unit)
        size += len(unit) + 1
    if window:
        yield " ".join(window)


def _sentences(paragraph: str, max_chars: int) -> list[str]:
    if len(paragraph) <= max_chars:
        return [paragraph]
    out: list[str] = []
    for sentence in SENTENCE_END.split(paragraph):
        while len(sentence) > max_chars:  # one overlong "sentence": cut at a space
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out


def _tail(units: list[str], overlap_chars: int, room: int) -> list[str]:
    """The last whole units of a window that fit in the overlap (and in the room left beside the next unit)."""
    tail: list[str] = []
    size = 0
    for unit in reversed(units):
        if size + len(unit) + 1 > min(overlap_chars, room):
            break
        tail.insert(0, unit)
        size += len(unit) + 1
    return tail


def _sections(text: str) -> Iterator[_Section]:
    stack: list[tuple[int, str]] = []
    current = _Section([], [])
    fenced = False
    for line in COMMENT.sub("", text).splitlines():
        if FENCE.match(line):
            fenced = not fenced
        match = None if fenced else HEADING.match(line)
        if match is None:
            current.body.append(line)
            continue
        yield current
        level, title = len(match.group(1)), match.group(2).strip()
        stack = [(lvl, t) for lvl, t in stack if lvl < level] + [(level, title)]
        current = _Section([t for _, t in stack], [])
    yield current


def _clause(heading: str) -> tuple[str, str]:
    match = CLAUSE.match(heading)
    if not match:
        return "", heading
    return match.group(1), match.group(2).strip() or match.group(1)


def _slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")[:60]
