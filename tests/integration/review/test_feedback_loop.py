"""The whole loop: a reply escalates → it is queued → a reviewer edits it through the API →
``keel feedback export`` yields the pair → the reward stage's ``--extra-data`` path loads it and a
reward-model training step runs on it. The gateway generates with the real tiny-random model, whose
replies are never the JSON the request asks for: the real ``response_format`` guard escalates them."""

from __future__ import annotations

import json

import httpx
import pytest
import torch
import yaml

from alignment.artifacts import RunPaths
from alignment.recipe import Recipe
from alignment.reward import all_comparisons, train
from gateway import cli
from gateway.app import create_app
from gateway.auth import KeyStore
from gateway.settings import Settings
MODEL = "tiny-random"
QUESTIONS = ["List two colours as JSON.", "Give me a JSON object with a name."]
FIXED = ['{"colours": ["red", "blue"]}', '{"name": "Keel"}']


@pytest.fixture
async def gateway(tmp_path, monkeypatch):
    policies = tmp_path / "policies"
    policies.mkdir()
    # A real guard: replies that are not the JSON the request asked for are escalated.
    (policies / "platform.yaml").write_text(yaml.safe_dump({"guards": {"output": [{"name": "response_format"}]}}))
    keys = KeyStore(tmp_path / "keys.yaml")
    user, _ = keys.add("acme", ["user"])
    reviewer, _ = keys.add("acme", ["reviewer"])
    db = f"sqlite:///{tmp_path / 'review.db'}"
    review = {"db_url": db, "metrics_interval_s": 0}
    monkeypatch.setenv("KEEL_HOME", str(tmp_path))
    monkeypatch.setenv("KEEL_REVIEW", json.dumps(review))
    settings = Settings.load(None, keys_file=tmp_path / "keys.yaml", model="tiny-random",
                             guards={"enabled": True, "policies": str(policies), "warm": False}, review=review)
    app = create_app(settings)  # the embedded backend on tiny-random, started by the app's lifespan
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                                   base_url="http://keel") as http:
        yield http, user, reviewer


async def test_escalation_to_reward_model_training(gateway, tmp_path, capsys, tiny_model_dir):
    http, user, reviewer = gateway
    as_user, as_reviewer = {"Authorization": f"Bearer {user}"}, {"Authorization": f"Bearer {reviewer}"}
    for question in QUESTIONS:
        reply = await http.post("/v1/chat/completions", headers=as_user, json={
            "model": MODEL, "messages": [{"role": "user", "content": question}],
            "response_format": {"type": "json_object"}, "max_tokens": 24, "seed": 7})
        assert reply.status_code == 200
        assert "reviewer" in reply.json()["choices"][0]["message"]["content"]  # the holding message

    queue = (await http.get("/v1/review/items?status=pending", headers=as_reviewer)).json()["data"]
    assert len(queue) == 2 and {i["source"] for i in queue} == {"escalation"}
    assert all(i["guard_decisions"][0]["guard"] == "response_format" for i in queue)
    flagged = {i["candidates"][0]["content"] for i in queue}  # what the model said, held back from the user
    assert all(text.strip() for text in flagged)
    for item in queue:
        fixed = FIXED[QUESTIONS.index(item["conversation"][-1]["content"])]
        assert (await http.post(f"/v1/review/items/{item['id']}/claim", headers=as_reviewer)).status_code == 200
        decided = await http.post(f"/v1/review/items/{item['id']}/decision", headers=as_reviewer,
                                  json={"action": "edit", "answer": fixed})
        assert decided.status_code == 200

    capsys.readouterr()
    assert cli.main(["feedback", "export"]) == 0
    exported = capsys.readouterr().out
    path = tmp_path / "comparisons.jsonl"
    path.write_text(exported)
    records = [json.loads(line) for line in exported.splitlines()]
    assert sorted(r["chosen"][0]["content"] for r in records) == sorted(FIXED)
    assert {r["rejected"][0]["content"] for r in records} == flagged
    assert cli.main(["feedback", "export"]) == 0 and capsys.readouterr().out == ""  # exported once

    # The reward stage's own loader (what `keel align --stage reward --extra-data FILE` uses).
    recipe = Recipe(name="review-loop", model="tiny-random", seed=0)
    recipe.data.extra_comparisons = [str(path)]
    recipe.reward.max_steps, recipe.reward.batch_size, recipe.reward.lr = 2, 2, 1e-3
    paths = RunPaths(tmp_path / "run")
    paths.comparisons.parent.mkdir(parents=True)
    paths.comparisons.write_text("")
    pairs = all_comparisons(recipe, paths)
    assert len(pairs) == 2 and {p["source"] for p in pairs} == {"review"}
    torch.manual_seed(0)
    scorer, metrics = train(recipe, pairs, paths.stage_dir("reward"))
    assert metrics["steps"] == 2 and torch.isfinite(torch.tensor(metrics["train_loss"]))
    assert (paths.stage_dir("reward") / "adapter").is_dir()
    scores = scorer.score([p["prompt"] + p["chosen"] for p in pairs])
    assert scores.shape == (2,)
