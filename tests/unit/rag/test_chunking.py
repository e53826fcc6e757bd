"""Heading-aware chunking: clause headings, overlap, content-hash ids."""

from rag.chunking import ChunkingConfig, Document, chunk_document, chunk_id, split_text

HANDBOOK = """<!-- source: kb/02-home.md title: Part 2 — Home Insurance -->

# Part 2 — Home Insurance

## 2. Insured Events

### HOME-2.3 Flood

We cover damage caused by flood water entering your home. A fixed flood excess of $1,000 applies.

### HOME-2.4 Escape of Water

Water escaping from a fixed installation is covered. We also pay to trace the leak.
"""


def test_each_clause_is_its_own_chunk_named_by_its_id():
    chunks = chunk_document(Document(HANDBOOK, "kb/02-home.md", uri="https://kb.example/02-home.md"))
    assert [c.source_id for c in chunks] == ["HOME-2.3", "HOME-2.4"]
    flood = chunks[0]
    assert flood.clause == "HOME-2.3" and flood.title == "Flood"
    assert flood.text.startswith("HOME-2.3 Flood\n\n") and "$1,000" in flood.text
    assert "HOME-2.4" not in flood.text and "source:" not in flood.text
    assert flood.uri == "https://kb.example/02-home.md#HOME-2.3"
    assert flood.source == "kb/02-home.md"
    assert flood.meta["section"] == "Part 2 — Home Insurance > 2. Insured Events"


def test_ids_are_content_hashes():
    first = chunk_document(Document(HANDBOOK, "a.md"))
    again = chunk_document(Document(HANDBOOK, "a.md"))
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert first[0].chunk_id == chunk_id("a.md", first[0].text)
    changed = chunk_document(Document(HANDBOOK.replace("$1,000", "$1,500"), "a.md"))
    assert changed[0].chunk_id != first[0].chunk_id and changed[1].chunk_id == first[1].chunk_id
    elsewhere = chunk_document(Document(HANDBOOK, "b.md"))
    assert elsewhere[0].chunk_id != first[0].chunk_id


def test_long_sections_split_into_overlapping_windows():
    sentences = [f"Sentence number {i} says something about claims and excesses." for i in range(40)]
    doc = Document("## Long section\n\n" + " ".join(sentences), "long.md")
    config = ChunkingConfig(max_chars=400, overlap_chars=120)
    chunks = chunk_document(doc, config)
    assert len(chunks) > 3
    assert all(len(c.text) <= 400 + len("Long section\n\n") for c in chunks)
    assert all(c.source_id == "long.md#long-section" for c in chunks)
    for before, after in zip(chunks, chunks[1:]):
        tail = before.text.split(". ")[-1]
        assert tail in after.text  # the last sentence of a window opens the next one
    assert all(s in " ".join(c.text for c in chunks) for s in sentences)


def test_plain_text_without_headings_is_windowed():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 60 for i in range(10))
    chunks = chunk_document(Document(text, "notes.txt", title="notes"), ChunkingConfig(max_chars=700, overlap_chars=100))
    assert len(chunks) >= 4
    assert all(c.source_id == "notes.txt#1" and c.clause == "" and c.title == "notes" for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_headings_inside_code_fences_and_stray_lines_are_not_sections():
    doc = Document("## Setup\n\nRun this script to configure it:\n\n```\n# not a heading\necho hi\n```\n\n## Empty\n\nx\n", "s.md")
    chunks = chunk_document(doc)
    assert [c.source_id for c in chunks] == ["s.md#setup"]
    assert "# not a heading" in chunks[0].text


def test_split_text_keeps_short_text_whole_and_cuts_overlong_sentences():
    assert list(split_text("short", 100, 20)) == ["short"]
    pieces = list(split_text("x" * 50 + " " + "y" * 300, 100, 20))
    assert all(len(p) <= 100 for p in pieces) and "".join(pieces).replace(" ", "") == "x" * 50 + "y" * 300
