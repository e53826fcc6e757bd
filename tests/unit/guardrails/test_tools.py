"""Tool permissions, tool_choice, Hermes tool-call parsing and argument validation (no model)."""

import json

import pytest

from guardrails.config import ToolsConfig
from guardrails.tools import InvalidToolChoice, ToolNotPermitted, check_call, parse_calls, plan, tools_prompt

WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"], "additionalProperties": False}}}
SHELL = {"type": "function", "function": {"name": "run_shell", "parameters": {"type": "object"}}}


def test_allowlist_refuses_other_tools_in_error_mode():
    with pytest.raises(ToolNotPermitted, match="run_shell"):
        plan([WEATHER, SHELL], "auto", ["get_weather"], ToolsConfig())


def test_allowlist_drops_other_tools_in_drop_mode():
    assert plan([WEATHER, SHELL], "auto", ["get_weather"], ToolsConfig(disallowed="drop")).names() == ["get_weather"]


def test_no_allowlist_follows_the_default():
    assert plan([SHELL], None, None, ToolsConfig()).names() == ["run_shell"]
    with pytest.raises(ToolNotPermitted):
        plan([SHELL], None, None, ToolsConfig(allow_by_default=False))


def test_tool_choice_modes():
    assert not plan([WEATHER], "none", None, ToolsConfig()).active
    required = plan([WEATHER], "required", None, ToolsConfig())
    assert required.required and not required.forced
    named = plan([WEATHER, SHELL], {"type": "function", "function": {"name": "run_shell"}}, None, ToolsConfig())
    assert named.forced == "run_shell" and named.names() == ["run_shell"]
    assert "must call the function run_shell" in tools_prompt(named)
    with pytest.raises(InvalidToolChoice):
        plan([WEATHER], {"type": "function", "function": {"name": "nope"}}, None, ToolsConfig())
    with pytest.raises(ToolNotPermitted):
        plan([WEATHER, SHELL], {"type": "function", "function": {"name": "run_shell"}}, ["get_weather"],
             ToolsConfig(disallowed="drop"))


def test_hermes_calls_are_parsed_out_of_the_reply():
    text = 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
    content, calls, errors = parse_calls(text)
    assert content == "Let me check." and errors == []
    assert calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "Oslo"}
    wire = calls[0].wire()
    assert wire["type"] == "function" and wire["id"].startswith("call_")


def test_malformed_calls_are_reported():
    _, calls, errors = parse_calls("<tool_call>{not json}</tool_call>")
    assert calls == [] and errors


def test_calls_are_checked_against_the_plan_and_the_schema():
    weather = plan([WEATHER], "auto", None, ToolsConfig())
    _, (good,), _ = parse_calls('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "days": 2}}</tool_call>')
    assert check_call(good, weather).action == "allow"
    _, (bad,), _ = parse_calls('<tool_call>{"name": "get_weather", "arguments": {"days": 0}}</tool_call>')
    decision = check_call(bad, weather)
    assert decision.action == "block" and decision.category == "invalid_arguments"
    _, (other,), _ = parse_calls('<tool_call>{"name": "run_shell", "arguments": {}}</tool_call>')
    assert check_call(other, weather).category == "tool_not_permitted"
