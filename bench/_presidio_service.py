"""Presidio's analyzer and anonymizer REST endpoints, served offline from Keel's own venv (for LiteLLM).

LiteLLM's Presidio guardrail calls ``POST {analyzer}/analyze`` and ``POST {anonymizer}/anonymize``
(Presidio's documented REST API). Microsoft ships those as Docker images; this is the same API over the
same presidio-analyzer and presidio-anonymizer packages, with the analyzer configured as Keel's input PII
guard is (data/policies/platform.yaml: ``nlp: tokens``, ``min_score: 0.4``), so both proxies run the same
recognizers and only the plumbing differs. ``GET /stats`` counts the calls (the benchmark checks that
LiteLLM really called it).

    .venv/bin/python bench/_presidio_service.py --port 5002
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi import FastAPI  # noqa: E402

from guardrails.pii import DEFAULT_ENTITIES, PiiAnalyzer  # noqa: E402


def build_app(nlp: str = "tokens", min_score: float = 0.4) -> FastAPI:
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import RecognizerResult

    analyzer = PiiAnalyzer(nlp, min_score)  # type: ignore[arg-type]
    anonymizer = AnonymizerEngine()
    calls = {"analyze": 0, "anonymize": 0}
    app = FastAPI(title="presidio (bench)")

    @app.get("/health")
    def health() -> str:
        return "Presidio Analyzer service is up"

    @app.get("/stats")
    def stats() -> dict[str, int]:
        return calls

    # Plain `def` routes run in Starlette's thread pool, as the Flask services run in gunicorn threads.
    @app.post("/analyze")
    def analyze(body: dict[str, Any]) -> list[dict[str, Any]]:
        calls["analyze"] += 1
        entities = body.get("entities") or list(DEFAULT_ENTITIES)
        findings = analyzer.analyze(str(body.get("text", "")), entities)
        return [{"entity_type": f.entity, "start": f.start, "end": f.end, "score": f.score} for f in findings]

    @app.post("/anonymize")
    def anonymize(body: dict[str, Any]) -> dict[str, Any]:
        calls["anonymize"] += 1
        results = [RecognizerResult(r["entity_type"], r["start"], r["end"], r.get("score", 1.0))
                   for r in body.get("analyzer_results") or []]
        engine = anonymizer.anonymize(text=str(body.get("text", "")), analyzer_results=results)
        return {"text": engine.text, "items": [item.to_dict() for item in engine.items]}

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
