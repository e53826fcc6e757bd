"""Loaders: Markdown, text, HTML and PDF become Documents with headings as Markdown lines."""

import pytest

from rag.chunking import chunk_document
from rag.loaders import find_files, load_documents, load_file
from tests.unit.rag.pdf import write_pdf


def test_html_headings_become_sections_and_scripts_vanish(tmp_path):
    page = tmp_path / "faq.html"
    page.write_text(
        "<html><head><title>Claims FAQ</title><style>p {color: red}</style></head><body>"
        "<h2>CLM-9.1 Lost keys</h2><p>We pay up to $300 to replace lost keys &amp; locks.</p>"
        "<script>alert('x')</script><h2>Other</h2><p>Call us on 555-0100 any weekday morning.</p></body></html>"
    )
    doc = load_file(page, "faq.html")
    assert doc.title == "Claims FAQ"
    assert "## CLM-9.1 Lost keys" in doc.text and "alert" not in doc.text and "color" not in doc.text
    chunks = chunk_document(doc)
    assert [c.source_id for c in chunks] == ["CLM-9.1", "faq.html#other"]
    assert "keys & locks" in chunks[0].text


def test_pdf_text_is_extracted(tmp_path):
    pdf = write_pdf(tmp_path / "notice.pdf", [["Storm damage notice", "Report storm damage within 14 days."], ["Page two text."]], title="Notice")
    doc = load_file(pdf, "notice.pdf")
    assert doc.title == "Notice"
    assert "Report storm damage within 14 days." in doc.text and "Page two text." in doc.text


def test_directories_are_searched_recursively_with_relative_sources(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.md").write_text("<!-- source: x title: Part A -->\n# Part A\n\n### A-1.1 One\n\nText of clause one.\n")
    (tmp_path / "sub" / "b.txt").write_text("Plain text file with enough words in it.")
    (tmp_path / "skip.bin").write_bytes(b"\x00")
    docs = list(load_documents(tmp_path, base_uri="https://kb.example/"))
    assert [d.source for d in docs] == ["a.md", "sub/b.txt"]
    assert docs[0].title == "Part A" and docs[0].uri == "https://kb.example/a.md"
    assert [p.name for p in find_files(tmp_path / "a.md")] == ["a.md"]


def test_unsupported_or_missing_paths_are_refused(tmp_path):
    (tmp_path / "x.docx").write_text("?")
    with pytest.raises(ValueError):
        find_files(tmp_path / "x.docx")
    with pytest.raises(FileNotFoundError):
        find_files(tmp_path / "nope")
