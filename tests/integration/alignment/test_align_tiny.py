"""`keel align --recipe recipes/tiny.yaml` end to end on tiny-random: every stage's artifacts, the report,
a standard HF export that matches the trained policy and that the gateway serves, and resumability."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from alignment.recipe import REPO_ROOT
from gateway.cli import main

ARGS = ["align", "--recipe", str(REPO_ROOT / "recipes" / "tiny.yaml")]
REVIEW_PAIRS = [
    {
        "prompt": [{"role": "user", "content": f"Summarize topic {i} in one sentence."}],
        "chosen": [{"role": "assistant", "content": f"Topic {i} in one short sentence."}],
        "rejected": [{"role": "assistant", "content": "I cannot help with that."}],
        "source": "review",
        "meta": {"review_item": i},
    }
    for i in range(2)
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("align")
    extra = root / "review.jsonl"
    extra.write_text("".join(json.dumps(pair) + "\n" for pair in REVIEW_PAIRS))
    run = root / "tiny-run"
    assert main([*ARGS, "--run-dir", str(run), "--extra-data", str(extra)]) == 0
    return run


def done(run_dir: Path, stage: str) -> dict:
    return json.loads((run_dir / stage / "DONE.json").read_text())


def test_every_stage_leaves_its_artifacts(run_dir):
    for stage in ("sft", "ppo", "dpo"):
        adapter = run_dir / stage / "adapter"
        assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "lineage.json").is_file()
    assert (run_dir / "reward" / "adapter" / "adapter_model.safetensors").is_file()
    assert (run_dir / "reward" / "comparisons.jsonl").is_file()
    assert (run_dir / "ppo" / "checkpoint" / "state.json").is_file()
    assert (run_dir / "ppo" / "adapter" / "value_head.pt").is_file()
    for stage in ("sft", "reward", "ppo", "dpo", "eval", "export"):
        assert done(run_dir, stage)["wall_seconds"] >= 0


def test_sft_trains_on_golden_sampled_and_case_variant_demonstrations(run_dir):
    sft = done(run_dir, "sft")
    sampled = (run_dir / "sft" / "sampled_demonstrations.jsonl").read_text().splitlines()
    assert sft["sampled_demonstrations"]["prompts"] == 4
    assert sft["sampled_demonstrations"]["kept"] == len(sampled)
    assert sft["case_variants"] == 4
    assert sft["demonstrations"] == sft["golden_demonstrations"] + len(sampled) + sft["case_variants"]


def test_reward_stage_uses_extra_data_and_reports_heldout_accuracy(run_dir):
    reward = done(run_dir, "reward")
    assert reward["by_source"]["review"] == len(REVIEW_PAIRS)
    assert reward["heldout_pairs"] >= 1 and 0.0 <= reward["heldout_accuracy"] <= 1.0


def test_ppo_logs_every_step(run_dir):
    rows = [json.loads(line) for line in (run_dir / "ppo" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    for key in ("reward", "kl", "kl_coef", "entropy", "clipfrac", "value_loss", "policy_loss", "ptx_loss"):
        assert all(isinstance(row[key], float) for row in rows), key


def test_report_has_tables_numbers_and_chart(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    assert set(report["models"]) == {"base", "sft", "ppo", "dpo"}
    for metrics in report["models"].values():
        assert 0.0 <= metrics["prompt_strict"] <= 1.0 and metrics["per_type"]
        assert metrics["kl_to_reference"] is not None and metrics["rm_win_rate"] is not None
    assert report["models"]["base"]["kl_to_base"] == 0.0 and report["models"]["base"]["rm_win_rate"] == 0.5
    markdown = (run_dir / "report.md").read_text()
    assert "| ppo |" in markdown and "report.png" in markdown and "Wall time per stage" in markdown
    assert (run_dir / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_is_a_merged_hf_model_equal_to_the_ppo_policy(run_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from alignment import models, registry

    export = run_dir / "export"
    assert registry.resolve(export) == export.resolve()
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["base_model"] == "tiny-random" and manifest["policy"] == "ppo"
    assert manifest["recipe"]["settings"]["name"] == "tiny" and len(manifest["recipe"]["sha256"]) == 64
    assert "data/golden/demonstrations.jsonl" in manifest["data"] and manifest["eval"]["models"]["ppo"]
    assert len(manifest["adapters"]) == 2  # sft merged, then ppo
    assert not list(export.glob("adapter_*"))  # merged weights, not an adapter

    tokenizer = AutoTokenizer.from_pretrained(export)
    assert "{% generation %}" not in tokenizer.chat_template
    assert tokenizer.chat_template == models.load_tokenizer("tiny-random").chat_template
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, return_tensors="pt"
    )
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    merged = AutoModelForCausalLM.from_pretrained(export).eval()
    policy, _ = models.load_policy(run_dir / "ppo" / "adapter")
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, policy.eval()(input_ids=ids).logits, atol=1e-4)


def test_the_gateway_serves_the_export(run_dir, tmp_path):
    from starlette.testclient import TestClient

    from gateway.app import create_app
    from gateway.auth import KeyStore
    from gateway.settings import Settings

    keys = tmp_path / "keys.yaml"
    key, _ = KeyStore(keys).add("acme", ["user"])
    app = create_app(Settings.load(None, keys_file=keys, model=str(run_dir / "export")))
    with TestClient(app) as client:
        reply = client.post(
            "/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "tiny-run", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        )
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "tiny-run"
    assert reply.json()["usage"]["completion_tokens"] >= 1


def test_rerun_skips_finished_stages(run_dir):
    before = {
        stage: (run_dir / stage / "DONE.json").stat().st_mtime_ns for stage in ("sft", "reward", "ppo", "dpo")
    }
    checkpoints = sorted(p.name for p in (run_dir / "sft" / "trainer").iterdir())
    assert main([*ARGS, "--run-dir", str(run_dir), "--stage", "all"]) == 0
    after = {stage: (run_dir / stage / "DONE.json").stat().st_mtime_ns for stage in before}
    assert after == before
    assert sorted(p.name for p in (run_dir / "sft" / "trainer").iterdir()) == checkpoints
