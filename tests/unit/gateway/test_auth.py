import pytest
import yaml

from gateway import auth as auth_module
from gateway.auth import KeyStore, bearer_token, hash_key
from gateway.errors import AuthenticationFailed, NotPermitted


def test_added_key_authenticates_and_only_its_hash_is_stored(keys_file):
    store = KeyStore(keys_file)
    key, principal = store.add("acme", ["user", "reviewer"], models=["tiny-random"])
    assert key.startswith("sk-keel-")
    text = keys_file.read_text()
    assert key not in text
    assert hash_key(key) in text
    found = KeyStore(keys_file).authenticate(key)
    assert found.tenant == "acme"
    assert found.roles == {"user", "reviewer"}
    assert found.key_id == principal.key_id
    assert oct(keys_file.stat().st_mode)[-3:] == "600"


@pytest.mark.parametrize("presented", [None, "", "sk-keel-wrong", "x" * 500])
def test_missing_or_wrong_key_is_refused(keys_file, presented):
    KeyStore(keys_file).add("acme", ["user"])
    with pytest.raises(AuthenticationFailed):
        KeyStore(keys_file).authenticate(presented)


def test_two_keys_map_to_their_own_tenants(keys_file):
    store = KeyStore(keys_file)
    a, _ = store.add("tenant-a", ["user"])
    b, _ = store.add("tenant-b", ["admin"])
    assert store.authenticate(a).tenant == "tenant-a"
    assert store.authenticate(b).tenant == "tenant-b"
    assert store.count() == 2


def test_keys_added_by_another_process_are_picked_up(keys_file):
    serving = KeyStore(keys_file)
    serving.add("first", ["user"])
    serving._checked = 0.0
    key, _ = KeyStore(keys_file).add("second", ["user"])  # e.g. `keel keys add` while serving
    serving._checked = 0.0
    assert serving.authenticate(key).tenant == "second"


@pytest.mark.parametrize(("tenant", "roles"), [("acme", ["root"]), ("acme", []), ("", ["user"]), ("a b", ["user"])])
def test_bad_roles_or_tenant_are_refused(keys_file, tenant, roles):
    with pytest.raises(ValueError):
        KeyStore(keys_file).add(tenant, roles)


def test_roles_and_models_are_enforced(keys_file):
    key, _ = KeyStore(keys_file).add("acme", ["user"], models=["m1"])
    principal = KeyStore(keys_file).authenticate(key)
    assert principal.may_use_model("m1") and not principal.may_use_model("m2")
    principal.require_role("user")
    with pytest.raises(NotPermitted):
        principal.require_role("reviewer", "admin")


def test_malformed_keys_file_is_a_clear_error(keys_file):
    keys_file.write_text(yaml.safe_dump(["not", "a", "mapping"]))
    with pytest.raises(ValueError, match="mapping"):
        KeyStore(keys_file).authenticate("sk-keel-x")


@pytest.mark.parametrize(
    ("header", "token"), [("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("", None), ("Bearer", None)]
)
def test_bearer_token(header, token):
    assert bearer_token(header) == token


def test_every_stored_key_is_compared_in_constant_time_without_stopping_early(keys_file, monkeypatch):
    store = KeyStore(keys_file)
    first, _ = store.add("acme", ["user"])
    store.add("beta", ["user"])
    store.add("gamma", ["user"])
    calls: list[tuple[bytes, bytes]] = []
    real = auth_module.hmac.compare_digest

    def recording(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", recording)
    assert KeyStore(keys_file).authenticate(first).tenant == "acme"
    # The match is the first entry, yet all three are compared: how long it takes does not say which key matched.
    assert len(calls) == 3
    assert all(len(a) == len(b) for a, b in calls)  # digests of equal length: compare_digest's constant-time case
    calls.clear()
    with pytest.raises(AuthenticationFailed):
        KeyStore(keys_file).authenticate("sk-keel-" + "x" * 43)
    assert len(calls) == 3
