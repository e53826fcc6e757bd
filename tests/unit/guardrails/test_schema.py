"""response_format checks: JSON mode and JSON-schema mode."""

from guardrails.schema import response_format_error

SCHEMA = {"type": "json_schema", "json_schema": {"name": "person", "schema": {
    "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}}}


def test_text_mode_accepts_anything():
    assert response_format_error("hello", {"type": "text"}) is None
    assert response_format_error("hello", None) is None


def test_json_object_mode():
    assert response_format_error('{"a": 1}', {"type": "json_object"}) is None
    assert response_format_error("```json\n{\"a\": 1}\n```", {"type": "json_object"}) is None
    assert "not valid JSON" in response_format_error("{a: 1}", {"type": "json_object"})
    assert "object" in response_format_error("[1, 2]", {"type": "json_object"})


def test_json_schema_mode_reports_where():
    assert response_format_error('{"name": "Ada", "age": 36}', SCHEMA) is None
    error = response_format_error('{"name": "Ada", "age": "old"}', SCHEMA)
    assert error.startswith("at age:")
    assert "'age' is a required property" in response_format_error('{"name": "Ada"}', SCHEMA)
