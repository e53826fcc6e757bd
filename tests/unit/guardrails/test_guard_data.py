"""The shipped guard data sets pass their own validation: schemas, counts, no duplicates, train far from held-out."""

import json
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[3] / "data" / "guards"


def test_build_check_passes_on_the_shipped_files():
    done = subprocess.run([sys.executable, str(DATA / "build.py"), "--check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "all checks passed" in done.stdout
    for name in ("train_generated.jsonl", "train_more.jsonl", "train_corpus.jsonl"):
        assert f"hazard/{name}" in done.stdout


def test_build_check_rejects_a_train_row_copied_from_held_out(tmp_path):
    """The decontamination check fails when a held-out text leaks into an extra train file."""
    copy = tmp_path / "guards"
    subprocess.run(["cp", "-r", str(DATA), str(copy)], check=True)
    held = json.loads((copy / "injection" / "heldout.jsonl").read_text().splitlines()[0])
    with (copy / "injection" / "train_more.jsonl").open("a") as f:
        f.write(json.dumps({"text": held["text"], "label": held["label"], "where": held["where"]}) + "\n")
    done = subprocess.run([sys.executable, str(copy / "build.py"), "--check"], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "AssertionError" in done.stderr
