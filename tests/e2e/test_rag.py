"""RAG end to end: `keel ingest` into a store, a real `keel serve` process, the official openai SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from rag.grounding import NOT_FOUND_ANSWER
from tests.e2e.conftest import Server, start_server, stop_server

QA = {row["id"]: row for row in map(json.loads, Path("data/kb/qa.jsonl").read_text().splitlines())}
ANSWERABLE = next(r for r in QA.values() if r["gold"] == ["HOME-2.3"])  # the river-flood excess question
UNANSWERABLE = next(r for r in QA.values() if not r["answerable"] and "star rating" in r["question"])


@pytest.fixture(scope="module")
def rag_server(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("rag-server")
    env = {"KEEL_RAG": json.dumps({"enabled": True, "path": str(tmp / "chroma")})}
    ingest = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "ingest", "data/kb/handbook/02-home.md", "--tenant", "e2e", "--no-progress"],
        env=os.environ | env, capture_output=True, text=True, timeout=300,
    )
    assert ingest.returncode == 0, ingest.stderr
    assert "37 added" in ingest.stdout and "tenant e2e: 37 chunks" in ingest.stdout
    server = start_server(tmp, env=env)
    yield server
    stop_server(server)


@pytest.fixture
def client(rag_server: Server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{rag_server.base_url}/v1", api_key=rag_server.key, max_retries=0)


def test_a_handbook_answer_cites_the_gold_clause(client: openai.OpenAI) -> None:
    out = client.chat.completions.create(
        model="tiny-random", messages=[{"role": "user", "content": ANSWERABLE["question"]}], max_tokens=8, seed=1
    )
    citations = out.model_extra["citations"]
    assert citations[0]["clause"] == "HOME-2.3" and citations[0]["source_id"] == 1
    assert citations[0]["uri"].endswith("02-home.md#HOME-2.3") and citations[0]["score"] > 0.42
    assert out.model_extra["grounding"]["status"] == "grounded"
    assert out.usage.prompt_tokens > 100  # the sources went into the prompt


def test_an_unanswerable_question_gets_not_found(client: openai.OpenAI, rag_server: Server) -> None:
    out = client.chat.completions.create(model="tiny-random", messages=[{"role": "user", "content": UNANSWERABLE["question"]}])
    assert out.choices[0].message.content == NOT_FOUND_ANSWER
    assert "not found in the sources" in out.choices[0].message.content
    assert out.model_extra["grounding"]["status"] == "not_found" and out.usage.total_tokens == 0
    import httpx

    metrics = httpx.get(f"{rag_server.base_url}/metrics").text
    assert "keel_grounding_not_found_total 1.0" in metrics


def test_a_grounded_stream_ends_with_citations(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="tiny-random", messages=[{"role": "user", "content": ANSWERABLE["question"]}], max_tokens=4, stream=True
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].model_extra["citations"][0]["clause"] == "HOME-2.3"
