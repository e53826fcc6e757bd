"""Schemathesis against the gateway's own OpenAPI schema: no 5xx, responses match the schema, with and without a key."""

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from gateway.app import create_app
from gateway.auth import KeyStore
from gateway.settings import Settings
from tests.fakes import FakeBackend

# Schemathesis' fixture-based loader does not work with pytest 9, so the app is built when the module loads.
_KEYS = Path(tempfile.mkdtemp(prefix="keel-fuzz-")) / "keys.yaml"
_KEY, _ = KeyStore(_KEYS).add("fuzz", ["user"])
_APP = create_app(Settings.load(None, keys_file=_KEYS, model="tiny-random"), backend=FakeBackend(), model_id="fake-model")

schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@schema.parametrize()
@FUZZ
def test_with_a_valid_key(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {_KEY}"})


@schema.parametrize()
@FUZZ
def test_without_a_key(case):
    response = case.call_and_validate()
    if case.path.startswith("/v1/"):
        # Nothing under /v1 succeeds without a key (404/405 come from paths and methods no route has).
        assert response.status_code in (401, 404, 405)
