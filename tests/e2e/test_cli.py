"""The `keel` command line, run as a user would."""

import re
import subprocess
import sys
import time

import httpx

from tests.e2e.conftest import free_port

KEEL = [sys.executable, "-m", "gateway.cli"]


def run(*args, env=None):
    return subprocess.run([*KEEL, *args], capture_output=True, text=True, env=env, timeout=120)


def test_help_lists_commands():
    out = run("--help")
    assert out.returncode == 0
    for word in ("serve", "keys"):
        assert word in out.stdout
    assert "--init-dev-key" in run("serve", "--help").stdout


def test_keys_add_prints_the_key_once_and_list_never_shows_it(tmp_path, monkeypatch):
    env = {"KEEL_KEYS_FILE": str(tmp_path / "k.yaml"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = run("keys", "add", "--tenant", "acme", "--roles", "user,reviewer", env=env)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    assert re.fullmatch(r"sk-keel-[A-Za-z0-9_-]{40,}", key)
    assert key not in (tmp_path / "k.yaml").read_text()
    listing = run("keys", "list", env=env)
    assert "tenant=acme" in listing.stdout and "reviewer" in listing.stdout and key not in listing.stdout


def test_keys_add_refuses_a_bad_role(tmp_path):
    env = {"KEEL_KEYS_FILE": str(tmp_path / "k.yaml"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = run("keys", "add", "--tenant", "acme", "--roles", "superuser", env=env)
    assert out.returncode == 2 and "roles must be among" in out.stderr


def test_serve_unknown_model_fails_clearly(tmp_path):
    env = {"KEEL_KEYS_FILE": str(tmp_path / "k.yaml"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = run("serve", "--model", "no-such-model", env=env)
    assert out.returncode == 2 and "unknown model" in out.stderr


def test_serve_init_dev_key_prints_a_working_key_and_curl(tmp_path, tiny_model_dir):
    import os

    port = free_port()
    env = os.environ | {"KEEL_KEYS_FILE": str(tmp_path / "k.yaml"), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([*KEEL, "serve", "--model", "tiny-random", "--port", str(port), "--init-dev-key"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        text = log.read_text()
        key = re.search(r"sk-keel-[A-Za-z0-9_-]+", text).group(0)
        assert f"curl {base}/v1/chat/completions" in text
        r = httpx.post(f"{base}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                       json={"model": "tiny-random", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2})
        assert r.status_code == 200
    finally:
        proc.terminate()
        proc.wait(20)
    # A second start finds the key and prints none.
    again = subprocess.Popen([*KEEL, "serve", "--model", "tiny-random", "--port", str(port), "--init-dev-key"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
    try:
        time.sleep(6)
    finally:
        again.terminate()
        out, _ = again.communicate(timeout=20)
    assert "sk-keel-" not in out
