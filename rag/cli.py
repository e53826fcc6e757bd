"""The RAG commands of the ``keel`` CLI: ``keel ingest``, ``keel rag eval|sources|delete``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SettingsLoader = Callable[[str | None], Any]  # returns gateway Settings (uses .rag and .home)


def add_commands(commands: Any, load_settings: SettingsLoader) -> None:
    """Register the commands on the ``keel`` subparsers; handlers load settings with ``load_settings``."""
    ingest = commands.add_parser(
        "ingest", help="add documents to a tenant's knowledge base",
        description="Chunk, embed and store .md, .txt, .html and .pdf files (re-ingesting unchanged files is a no-op).",
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="a file, or a directory searched recursively")
    ingest.add_argument("--tenant", required=True, help="tenant whose knowledge base receives the chunks")
    ingest.add_argument("--base-uri", default="", help="prefix for citation URIs (default: the file's relative path)")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar")
    ingest.add_argument("--threads", type=int, default=0, help="onnxruntime threads for embedding (default 0: all cores)")
    ingest.add_argument("--config", help="YAML settings file")
    ingest.set_defaults(handler=lambda a: _ingest(a, load_settings(a.config)))

    rag = commands.add_parser("rag", help="inspect and evaluate knowledge bases", description="Knowledge-base tools.")
    rag_cmds = rag.add_subparsers(title="rag commands", metavar="ACTION")
    sources = rag_cmds.add_parser("sources", help="list a tenant's documents and their chunk counts")
    sources.add_argument("--tenant", required=True)
    sources.add_argument("--config", help="YAML settings file")
    sources.set_defaults(handler=lambda a: _sources(a, load_settings(a.config)))
    delete = rag_cmds.add_parser("delete", help="remove one document's chunks from a tenant's knowledge base")
    delete.add_argument("source", help="the document's path as `keel rag sources` lists it")
    delete.add_argument("--tenant", required=True)
    delete.add_argument("--config", help="YAML settings file")
    delete.set_defaults(handler=lambda a: _delete(a, load_settings(a.config)))
    evaluate = rag_cmds.add_parser(
        "eval", help="retrieval and not-found metrics on held-out questions; fits the answerability model",
        description="Ingest the knowledge base into a private store under --out, fit the answerability model on the "
        "training questions (threshold by cross-validation), then report recall@k, MRR and not-found "
        "precision/recall/F1 on the held-out questions, which nothing is fitted on.",
    )
    evaluate.add_argument("--qa", type=Path, default=Path("data/kb/qa.jsonl"), help="held-out QA set (JSONL)")
    evaluate.add_argument("--train", type=Path, default=Path("data/kb/qa-train.jsonl"), help="training QA set (JSONL)")
    evaluate.add_argument("--kb", type=Path, default=Path("data/kb/handbook"), help="documents to ingest")
    evaluate.add_argument("--out", type=Path, default=Path("runs/rag-eval"), help="report.md, report.json, scores.png, answerability.json")
    evaluate.add_argument("--k", type=int, default=5, help="chunks given to the model (recall@k)")
    evaluate.add_argument(
        "--max-false-refusals", type=float, default=0.10,
        help="only consider operating points refusing at most this share of the training questions' answerable ones "
        "(cross-validated; default 0.10; a negative value lifts the cap)",
    )
    evaluate.add_argument("--save-model", type=Path, help="also write the fitted model here (e.g. rag/answerability.json)")
    evaluate.add_argument("--config", help="YAML settings file (embedding threads)")
    evaluate.set_defaults(handler=lambda a: _eval(a, load_settings(a.config)))


def _store(settings: Any) -> Any:
    from rag.store import ChunkStore, connect

    return ChunkStore(connect(settings.rag.store_path(settings.home), settings.rag.chroma_url))


def _ingest(args: argparse.Namespace, settings: Any) -> int:
    from rag.embeddings import load_embedder
    from rag.ingest import ingest_path

    store = _store(settings)
    embedder = load_embedder(settings.home, threads=args.threads)
    for path in args.paths:
        report = ingest_path(path, args.tenant, store, embedder, base_uri=args.base_uri, progress=not args.no_progress)
        print(f"{path}: {report.summary()}")
    print(f"tenant {args.tenant}: {store.count(args.tenant)} chunks in total")
    return 0


def _sources(args: argparse.Namespace, settings: Any) -> int:
    for source, count in _store(settings).sources(args.tenant).items():
        print(f"{count:6d}  {source}")
    return 0


def _delete(args: argparse.Namespace, settings: Any) -> int:
    removed = _store(settings).delete_source(args.tenant, args.source)
    print(f"removed {removed} chunks of {args.source} from tenant {args.tenant}")
    return 0 if removed else 1


def _eval(args: argparse.Namespace, settings: Any) -> int:
    from rag.embeddings import MODEL_NAME, load_embedder
    from rag.eval_report import write_report
    from rag.evaluate import evaluate, load_qa, rank_all, train_answerability
    from rag.ingest import ingest_path
    from rag.retriever import ChromaRetriever
    from rag.store import ChunkStore, connect

    tenant = "rag-eval"
    store = ChunkStore(connect(args.out / "chroma"))
    embedder = load_embedder(settings.home, threads=settings.rag.threads)
    ingested = ingest_path(args.kb, tenant, store, embedder, progress=sys.stderr.isatty())
    quantized = settings.rag.query_embeddings == "int8"
    retriever = ChromaRetriever(store, load_embedder(settings.home, threads=settings.rag.threads, quantized=quantized))
    depth = max(10, args.k)
    train_items, test_items = load_qa(args.train), load_qa(args.qa)
    overlap = {q.question.lower() for q in train_items} & {q.question.lower() for q in test_items}
    if overlap:
        raise SystemExit(f"{len(overlap)} questions are in both {args.train} and {args.qa}")
    train = rank_all(train_items, lambda q: retriever.search(q, tenant, depth))
    test = rank_all(test_items, lambda q: retriever.search(q, tenant, depth))
    vocabulary = retriever.vocabulary(tenant)
    cap = args.max_false_refusals if args.max_false_refusals >= 0 else None
    n_un = sum(not q.answerable for q in train_items)
    model, cv = train_answerability(
        train, vocabulary, cap, trained_on=f"{args.train} ({len(train_items) - n_un} answerable, {n_un} unanswerable)"
    )
    (args.out).mkdir(parents=True, exist_ok=True)
    (args.out / "answerability.json").write_text(model.to_json() + "\n")
    if args.save_model:
        args.save_model.write_text(model.to_json() + "\n")
    report = evaluate(train, test, model, vocabulary, min_score=cv.min_score, k=args.k, cv=cv, max_false_refusals=cap)
    context = {
        "knowledge base": f"{args.kb} ({store.count(tenant)} chunks; {ingested.summary()})",
        "held-out questions": f"{args.qa} (nothing is fitted or tuned on them)",
        "training questions": f"{args.train} (answerability model, its threshold and the relevance floor)",
        "embeddings": f"{MODEL_NAME} (ONNX, onnxruntime): documents fp32, queries {settings.rag.query_embeddings}; "
        "cosine similarity, Chroma embedded",
    }
    path = write_report(report, test, args.out, context, model, vocabulary)
    t, b = report.test, report.baseline
    print(
        f"held-out: recall@1 {report.recall_at_1:.3f}  recall@{report.k} {report.recall_at_k:.3f}  MRR {report.mrr:.3f}\n"
        f"answerability model: threshold {report.threshold:.2f}, relevance floor {report.min_score:.2f} "
        f"(chosen by {cv.repeats}x{cv.folds}-fold cross-validation on {len(train)} training questions: F1 {cv.f1:.3f})\n"
        f"not-found on {report.questions} held-out questions: precision {t.precision:.3f}  recall {t.recall:.3f}  "
        f"F1 {t.f1:.3f}  false refusals {t.false_refusals:.3f}\n"
        f"baseline (score threshold {b.threshold:.2f} alone, chosen on the training questions): "
        f"precision {b.precision:.3f}  recall {b.recall:.3f}  F1 {b.f1:.3f}  false refusals {b.false_refusals:.3f}\n"
        f"report: {path}"
    )
    return 0
