"""Recipes: the shipped YAML files load, overrides apply, mistakes fail loudly."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignment.recipe import REPO_ROOT, STAGES, Recipe, RecipeError, cap_prompts, cap_steps, load

RECIPES = sorted((REPO_ROOT / "recipes").glob("*.yaml"))


def test_the_three_recipes_ship():
    assert {p.name for p in RECIPES} >= {"tiny.yaml", "smollm2-cpu.yaml", "gpu.yaml"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_recipe_loads_with_valid_stages_and_data(path: Path):
    recipe = load(path)
    assert set(recipe.stages) <= set(STAGES)
    assert recipe.stages == [s for s in STAGES if s in recipe.stages]  # in pipeline order
    for data_file in (recipe.data.train_prompts, recipe.data.dev_prompts, *recipe.data.demonstrations):
        assert (REPO_ROOT / data_file).is_file()
    assert recipe.ppo.minibatch_size <= recipe.ppo.batch_size


def test_cpu_recipes_stay_fp32_and_gpu_recipe_uses_bf16():
    assert load(REPO_ROOT / "recipes/tiny.yaml").bf16 is False
    assert load(REPO_ROOT / "recipes/smollm2-cpu.yaml").bf16 is False
    assert load(REPO_ROOT / "recipes/gpu.yaml").bf16 is True


def test_tiny_recipe_uses_the_tiny_model_and_cpu_recipe_the_real_one():
    assert load(REPO_ROOT / "recipes/tiny.yaml").model == "tiny-random"
    assert load(REPO_ROOT / "recipes/smollm2-cpu.yaml").model == "smollm2-135m-instruct"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_overrides_are_parsed_as_yaml_and_nested(tmp_path: Path):
    path = _write(tmp_path, "name: x\nmodel: tiny-random\nppo: {steps: 3}\n")
    recipe = load(
        path, ["ppo.kl_target=null", "ppo.lr=0.001", "reward.comparisons.samples=6", "run_dir=/tmp/r"]
    )
    assert recipe.ppo.kl_target is None and recipe.ppo.lr == 0.001 and recipe.ppo.steps == 3
    assert recipe.reward.comparisons.samples == 6
    assert recipe.run_path == Path("/tmp/r")
    assert load(path).run_path == REPO_ROOT / "runs" / "x"


def test_ints_are_accepted_for_floats(tmp_path: Path):
    assert load(_write(tmp_path, "name: x\nmodel: m\nppo: {lr: 1}\n")).ppo.lr == 1.0


@pytest.mark.parametrize(
    "text",
    [
        "name: x\nmodel: m\nppo: {stepz: 3}\n",  # typo
        "name: x\nmodel: m\nppo: {steps: three}\n",  # wrong type
        "name: x\nmodel: m\nstages: [sft, rlhf]\n",  # unknown stage
        "name: x\nmodel: m\nppo: {reward_source: vibes}\n",
        "model: m\n",  # name missing
    ],
)
def test_bad_recipes_raise(tmp_path: Path, text: str):
    with pytest.raises(RecipeError):
        load(_write(tmp_path, text))


def test_bad_override_raises(tmp_path: Path):
    with pytest.raises(RecipeError):
        load(_write(tmp_path, "name: x\nmodel: m\n"), ["ppo.steps"])


def test_smoke_caps():
    recipe = Recipe(name="x", model="m")
    cap_steps(recipe, 2)
    cap_prompts(recipe, 5)
    assert (recipe.sft.max_steps, recipe.reward.max_steps, recipe.dpo.max_steps, recipe.ppo.steps) == (
        2,
        2,
        2,
        2,
    )
    assert recipe.reward.comparisons.prompts == 5 and recipe.eval.prompts == 5


def test_sha256_tracks_settings():
    a, b = Recipe(name="x", model="m"), Recipe(name="x", model="m")
    assert a.sha256() == b.sha256()
    b.ppo.kl_coef = 0.2
    assert a.sha256() != b.sha256()
