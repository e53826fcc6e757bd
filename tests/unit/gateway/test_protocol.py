import pytest
from pydantic import ValidationError

from gateway.errors import InvalidRequest
from gateway.protocol import ChatCompletionRequest
from gateway.routes.chat import parse_body


def _req(**kw):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]} | kw
    return ChatCompletionRequest.model_validate(body)


def test_unknown_fields_are_tolerated_and_reported():
    req = _req(logprobs=True, parallel_tool_calls=False)
    assert req.ignored_fields() == ["logprobs", "parallel_tool_calls"]


def test_content_parts_are_joined():
    req = _req(messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    gen = req.to_generation(default_max_tokens=16)
    assert gen.messages[0].content == "a\nb"


def test_developer_role_maps_to_system():
    req = _req(messages=[{"role": "developer", "content": "be brief"}, {"role": "user", "content": "x"}])
    assert [m.role for m in req.to_generation(16).messages] == ["system", "user"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [({}, 16), ({"max_tokens": 5}, 5), ({"max_completion_tokens": 7}, 7), ({"max_tokens": 9, "max_completion_tokens": 9}, 9)],
)
def test_max_tokens_mapping(fields, expected):
    assert _req(**fields).to_generation(default_max_tokens=16).max_tokens == expected


def test_max_completion_tokens_wins_over_max_tokens():
    assert _req(max_tokens=3, max_completion_tokens=4).to_generation(16).max_tokens == 4


@pytest.mark.parametrize(
    "bad",
    [
        {"temperature": 2.5},
        {"top_p": 0},
        {"n": 0},
        {"max_tokens": 0},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"stop": [""]},
        {"messages": []},
        {"messages": [{"role": "wizard", "content": "x"}]},
        {"response_format": {"type": "yaml"}},
        {"seed": 2**63},  # int64, as OpenAI's: a larger seed cannot seed a generator
        {"seed": -(2**63) - 1},
        {"tools": [{"type": "function", "function": {"parameters": {}}}]},  # no name
        {"tools": [{"type": "function", "function": {"name": "has space"}}]},
        {"tools": [{"type": "retrieval", "function": {"name": "f"}}]},
        {"tools": [{"nonsense": 1}]},
        {"tool_choice": "sometimes"},
        {"tool_choice": {"type": "function"}},
    ],
)
def test_invalid_values_are_refused(bad):
    with pytest.raises(ValidationError):
        _req(**bad)


def test_tools_and_a_named_tool_choice_reach_the_tool_plan_as_plain_dicts():
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}, "x-extra": 1}}
    req = _req(tools=[tool], tool_choice={"type": "function", "function": {"name": "get_weather"}})
    assert req.tool_specs() == [tool]
    assert req.tool_choice_spec() == {"type": "function", "function": {"name": "get_weather"}}
    assert _req(tool_choice="required").tool_choice_spec() == "required"
    assert _req().tool_specs() is None


def test_stop_string_becomes_list_and_sampling_params_pass_through():
    gen = _req(stop="END", seed=3, temperature=0.5, top_p=0.9, n=2).to_generation(8)
    assert (gen.stop, gen.seed, gen.temperature, gen.top_p, gen.n) == (["END"], 3, 0.5, 0.9, 2)


@pytest.mark.parametrize(
    ("raw", "param", "fragment"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "JSON object"),
        (b"", None, "JSON object"),
        (b'{"model": "m"}', "messages", "messages"),
        (b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "n": "many"}', "n", "n"),
    ],
)
def test_parse_body_errors_are_invalid_request_with_param(raw, param, fragment):
    with pytest.raises(InvalidRequest) as info:
        parse_body(raw)
    assert info.value.param == param
    assert fragment in info.value.message
    assert info.value.status == 400
