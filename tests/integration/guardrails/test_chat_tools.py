"""Tools through the gateway with the openai SDK: allowlists, tool_choice, Hermes calls, argument validation;
and response_format JSON with its one re-ask."""

import json

import openai
import pytest

from tests.integration.guardrails.conftest import MODEL

POLICY = {"prompt": "P", "guards": {"output": [{"name": "response_format"}]}}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}}}
SHELL = {"type": "function", "function": {"name": "run_shell", "parameters": {"type": "object"}}}
GOOD = 'Checking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>'
BAD_ARGS = '<tool_call>{"name": "get_weather", "arguments": {"town": "Oslo"}}</tool_call>'
FORBIDDEN = '<tool_call>{"name": "run_shell", "arguments": {"cmd": "rm -rf /"}}</tool_call>'


def _user(text="weather in Oslo?"):
    return [{"role": "user", "content": text}]


async def test_an_allowed_tool_call_comes_back_as_tool_calls(make_gateway):
    gw = make_gateway(POLICY, GOOD)
    out = await gw.client(tools=["get_weather"]).chat.completions.create(model=MODEL, messages=_user(), tools=[WEATHER])
    choice = out.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Checking."
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    system = [text for role, text in gw.sent() if role == "system"]
    assert "<tools>" in system[-1] and "get_weather" in system[-1]


async def test_a_streamed_tool_call_arrives_in_a_delta(make_gateway):
    gw = make_gateway(POLICY, GOOD)
    stream = await gw.client().chat.completions.create(model=MODEL, messages=_user(), tools=[WEATHER], stream=True)
    chunks = [c async for c in stream]
    calls = [tc for c in chunks for ch in c.choices for tc in (ch.delta.tool_calls or [])]
    assert [tc.function.name for tc in calls] == ["get_weather"] and calls[0].index == 0
    assert [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason] == ["tool_calls"]
    assert "tool_call" not in "".join(ch.delta.content or "" for c in chunks for ch in c.choices)


async def test_a_client_tool_outside_the_allowlist_is_403(make_gateway):
    gw = make_gateway(POLICY, GOOD)
    with pytest.raises(openai.PermissionDeniedError) as info:
        await gw.client(tools=["get_weather"]).chat.completions.create(model=MODEL, messages=_user(), tools=[WEATHER, SHELL])
    assert "run_shell" in info.value.body["message"] and gw.backend.requests == []


async def test_drop_mode_leaves_the_tool_out(make_gateway):
    gw = make_gateway({"prompt": "P", "guards": {"tools": {"disallowed": "drop"}}}, GOOD)
    await gw.client(tools=["get_weather"]).chat.completions.create(model=MODEL, messages=_user(), tools=[WEATHER, SHELL])
    offer = [text for role, text in gw.sent() if "<tools>" in text][0]
    assert "get_weather" in offer and "run_shell" not in offer


async def test_a_model_call_to_a_tool_it_was_not_offered_is_blocked(make_gateway):
    gw = make_gateway(POLICY, FORBIDDEN)
    out = await gw.client(tools=["get_weather"]).chat.completions.create(model=MODEL, messages=_user(), tools=[WEATHER])
    assert out.choices[0].message.tool_calls is None and out.choices[0].finish_reason == "stop"
    assert len(gw.backend.requests) == 2  # one re-ask, told why


async def test_bad_arguments_get_one_re_ask_with_the_schema_error(make_gateway):
    gw = make_gateway(POLICY, BAD_ARGS, GOOD)
    out = await gw.client().chat.completions.create(model=MODEL, messages=_user(), tools=[WEATHER])
    assert out.choices[0].message.tool_calls[0].function.name == "get_weather"
    note = gw.sent()[-1]
    assert note[0] == "user" and "'city' is a required property" in note[1]
    still_bad = make_gateway(POLICY, BAD_ARGS)
    out = await still_bad.client().chat.completions.create(model=MODEL, messages=_user(), tools=[WEATHER])
    assert out.choices[0].message.tool_calls is None and len(still_bad.backend.requests) == 2


async def test_tool_choice_none_offers_nothing_and_named_must_exist(make_gateway):
    gw = make_gateway(POLICY, "It is sunny.")
    client = gw.client()
    out = await client.chat.completions.create(model=MODEL, messages=_user(), tools=[WEATHER], tool_choice="none")
    assert out.choices[0].message.content == "It is sunny."
    assert not any("<tools>" in text for _, text in gw.sent())
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model=MODEL, messages=_user(), tools=[WEATHER],
                                             tool_choice={"type": "function", "function": {"name": "nope"}})


async def test_tool_history_is_written_back_in_hermes_form(make_gateway):
    gw = make_gateway(POLICY, "It is 21 degrees in Oslo.")
    await gw.client().chat.completions.create(model=MODEL, tools=[WEATHER], messages=[
        *_user(), {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'}])
    sent = gw.sent()
    assert sent[-2] == ("assistant", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>')
    assert sent[-1] == ("tool", '<tool_response>\n{"temp": 21}\n</tool_response>')


async def test_invalid_json_is_re_asked_once(make_gateway):
    gw = make_gateway(POLICY, "Sure! name: Ada", '{"name": "Ada"}')
    out = await gw.client().chat.completions.create(model=MODEL, messages=_user("json please"),
                                                    response_format={"type": "json_object"})
    assert json.loads(out.choices[0].message.content) == {"name": "Ada"}
    assert "not valid JSON" in gw.sent()[-1][1]
