"""Stage orchestration: finished stages are skipped, --force reruns them, metrics carry timings."""

from __future__ import annotations

import sys
import types

import pytest

from alignment import pipeline
from alignment.recipe import Recipe


@pytest.fixture
def fake_stages(monkeypatch):
    calls: list[str] = []

    def make(name):
        module = types.ModuleType(f"fake_{name}")

        def run(recipe, paths, *extra):
            calls.append(name)
            (paths.stage_dir(name) / "artifact").parent.mkdir(parents=True, exist_ok=True)
            (paths.stage_dir(name) / "artifact").write_text(str(len(calls)))
            return {"calls": len(calls)}

        module.run = run
        monkeypatch.setitem(sys.modules, module.__name__, module)
        return module.__name__

    monkeypatch.setattr(pipeline, "RUNNERS", {name: make(name) for name in pipeline.RUNNERS})
    return calls


def recipe(tmp_path) -> Recipe:
    return Recipe(
        name="t", model="tiny-random", run_dir=str(tmp_path / "run"), stages=["sft", "reward", "eval"]
    )


def test_all_runs_the_recipe_stages_in_order_with_timings(tmp_path, fake_stages):
    results = pipeline.run(recipe(tmp_path), "all")
    assert fake_stages == ["sft", "reward", "eval"]
    assert set(results) == {"sft", "reward", "eval"}
    for metrics in results.values():
        assert {"wall_seconds", "cpu_seconds", "peak_rss_mb"} <= set(metrics)
    assert (tmp_path / "run" / "recipe.yaml").is_file()


def test_finished_stages_are_skipped_and_eval_always_refreshes(tmp_path, fake_stages):
    pipeline.run(recipe(tmp_path), "all")
    fake_stages.clear()
    results = pipeline.run(recipe(tmp_path), "all")
    assert fake_stages == ["eval"]  # eval caches per model itself and rewrites the report
    assert results["sft"]["calls"] == 1  # read back from DONE.json


def test_force_clears_and_reruns_a_stage(tmp_path, fake_stages):
    pipeline.run(recipe(tmp_path), "all")
    stale = tmp_path / "run" / "sft" / "stale-file"
    stale.write_text("old")
    fake_stages.clear()
    pipeline.run(recipe(tmp_path), "sft", force=True)
    assert fake_stages == ["sft"] and not stale.exists()


def test_unknown_stage_is_refused(tmp_path, fake_stages):
    with pytest.raises(ValueError):
        pipeline.run(recipe(tmp_path), "rlhf")
