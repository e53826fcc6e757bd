"""Policy layers from YAML: platform first, then tenant, then the key's app prompt; tenant overrides merge by name."""

from pathlib import Path

import pytest
import yaml

from guardrails.config import StackConfig, merge
from guardrails.policy import DEFAULT_POLICIES, PolicyStore


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    _write(tmp_path / "platform.yaml", {"prompt": "PLATFORM RULES", "guards": {
        "input": [{"name": "pii", "entities": {"US_SSN": "mask"}}, {"name": "hazard", "action": "block"}],
        "output": [{"name": "pii"}]}})
    _write(tmp_path / "tenants" / "acme.yaml", {"prompt": "ACME RULES", "guards": {
        "refusal": {"mode": "error"},
        "input": [{"name": "pii", "entities": {"US_SSN": "block"}}, {"name": "size", "max_chars": 10}]}})
    return tmp_path


def test_layers_are_platform_then_tenant_then_app(policies):
    policy = PolicyStore(policies).for_tenant("acme")
    assert policy.prompts("APP PROMPT") == [("platform", "PLATFORM RULES"), ("tenant", "ACME RULES"), ("app", "APP PROMPT")]


def test_a_tenant_without_a_file_gets_the_platform_alone(policies):
    policy = PolicyStore(policies).for_tenant("other")
    assert policy.prompts(None) == [("platform", "PLATFORM RULES")]
    assert policy.config.refusal.mode == "message"


def test_tenant_overrides_merge_by_guard_name(policies):
    config = PolicyStore(policies).for_tenant("acme").config
    assert [s.name for s in config.input] == ["pii", "hazard", "size"]
    assert config.input[0].options()["entities"] == {"US_SSN": "block"}
    assert config.input[1].options() == {"action": "block"}
    assert config.refusal.mode == "error"


def test_tenant_names_cannot_escape_the_directory(policies):
    assert PolicyStore(policies).for_tenant("../platform").prompts() == [("platform", "PLATFORM RULES")]


def test_disabled_guards_leave_the_stage():
    config = StackConfig.model_validate(merge({"input": [{"name": "pii"}, {"name": "hazard"}]},
                                              {"input": [{"name": "hazard", "enabled": False}]}))
    assert [s.name for s in config.stage("input")] == ["pii"]


def test_shipped_policies_parse():
    store = PolicyStore(DEFAULT_POLICIES)
    platform = store.for_tenant("anyone")
    assert platform.layers[0][0] == "platform" and "Keel" in platform.layers[0][1]
    assert {s.name for s in platform.config.input} >= {"size", "pii", "injection", "hazard"}
    example = store.for_tenant("example")
    assert [n for n, _ in example.layers] == ["platform", "tenant"] and example.config.refusal.mode == "error"
