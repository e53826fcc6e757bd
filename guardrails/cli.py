"""The guard commands of the ``keel`` CLI: ``keel guards train`` and ``keel guards eval``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SettingsLoader = Callable[[str | None], Any]  # returns gateway Settings (uses .home)


def add_commands(commands: Any, load_settings: SettingsLoader) -> None:
    """Register ``keel guards ...`` on the ``keel`` subparsers."""
    guards = commands.add_parser("guards", help="train and evaluate the guard classifiers", description="Guard tools.")
    actions = guards.add_subparsers(title="guards commands", metavar="ACTION")
    train = actions.add_parser("train", help="train the hazard and injection classifiers into $KEEL_HOME/guards",
                               description="Fit the n-gram screen, the n-gram + MiniLM (int8) and the n-gram + MiniLM + "
                               "SmolLM2 logistic regressions on the shipped train sets (hand-written and generated), choose "
                               "C, the screen cut-off, the SmolLM2 gate and the threshold by 5-fold grouped cross-validation "
                               "on train, and save the artifacts (about 6 minutes on 2 cores).")
    train.add_argument("--retrain", action="store_true", help="train again even if artifacts exist")
    train.add_argument("--threads", type=int, default=0, help="onnxruntime threads for embedding (default 0: all cores)")
    train.add_argument("--config", help="YAML settings file (locates $KEEL_HOME)")
    train.set_defaults(handler=lambda a: _train(a, load_settings(a.config)))
    evaluate = actions.add_parser("eval", help="held-out quality of the hazard, injection and PII guards",
                                  description="Score the shipped held-out sets (never trained on) and compare with the goals.")
    evaluate.add_argument("--out", type=Path, default=Path("runs/guards-eval"), help="writes report.md, report.json and report.png")
    evaluate.add_argument("--threads", type=int, default=0, help="onnxruntime threads for embedding (default 0: all cores)")
    evaluate.add_argument("--config", help="YAML settings file (locates $KEEL_HOME)")
    evaluate.set_defaults(handler=lambda a: _eval(a, load_settings(a.config)))


def _store(args: argparse.Namespace, settings: Any) -> Any:
    from guardrails.embedding_cache import EmbeddingCache
    from guardrails.training import ClassifierStore

    max_tokens = getattr(getattr(settings, "guards", None), "embedding_max_tokens", 128)
    return ClassifierStore(settings.home, EmbeddingCache(settings.home, args.threads, max_tokens))


def _train(args: argparse.Namespace, settings: Any) -> int:
    store = _store(args, settings)
    for task in ("hazard", "injection"):
        model = store.get(task, retrain=args.retrain)
        print(f"{task}: threshold {model.threshold:.3f}, screen cut-off {model.skip_below:.3f}, SmolLM2 gate "
              f"{model.deep_above:.3f}, C {model.meta.get('C')}, out-of-fold recall {model.meta.get('cv_recall')} "
              f"(without SmolLM2 {model.meta.get('full_cv_recall')}) at target FP {model.meta.get('target_fp'):.3f} "
              f"-> {store.path(task)}")
    return 0


def _eval(args: argparse.Namespace, settings: Any) -> int:
    from guardrails.evaluate import evaluate, plot, report

    results = evaluate(_store(args, settings))
    text = report(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text(text + "\n\n![held-out results against the goals](report.png)\n")
    (args.out / "report.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, args.out / "report.png")
    print(text)
    return 0
