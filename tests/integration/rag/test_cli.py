"""`keel ingest` and `keel rag sources|delete` in-process, against an embedded store in a tmp dir."""

import json

from gateway.cli import main
from tests.unit.rag.pdf import write_pdf


def test_ingest_list_and_delete(tmp_path, monkeypatch, capsys, embedder):
    monkeypatch.setenv("KEEL_RAG", json.dumps({"path": str(tmp_path / "chroma")}))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "faq.html").write_text("<h2>FAQ-1 Opening hours</h2><p>We answer the phone from 8am to 8pm on weekdays.</p>")
    (docs / "notes.txt").write_text("Claims about storms must be reported within thirty days of the storm.")
    write_pdf(docs / "notice.pdf", [["Notice of changes", "The excess for glass claims is now $90."]])
    assert main(["ingest", str(docs), "--tenant", "cli", "--no-progress", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 documents, 3 chunks: 3 added" in out and "tenant cli: 3 chunks in total" in out
    assert main(["ingest", str(docs), "--tenant", "cli", "--no-progress"]) == 0
    assert "0 added, 3 unchanged" in capsys.readouterr().out
    assert main(["rag", "sources", "--tenant", "cli"]) == 0
    assert capsys.readouterr().out.split() == ["1", "faq.html", "1", "notes.txt", "1", "notice.pdf"]
    assert main(["rag", "delete", "notice.pdf", "--tenant", "cli"]) == 0
    assert "removed 1 chunks" in capsys.readouterr().out
    assert main(["rag", "delete", "notice.pdf", "--tenant", "cli"]) == 1
    assert main(["ingest", str(tmp_path / "missing"), "--tenant", "cli"]) == 2
