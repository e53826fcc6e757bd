"""The LiteLLM proxy as a benchmark peer: installed into its own venv, configured in front of an upstream.

``litellm[proxy]==1.110.2`` cannot be installed from this project's package index: the ``proxy`` extra
requires ``litellm-proxy==1.110.2``, which the index does not carry. So the venv gets ``litellm==1.110.2``
and the proxy extra's own requirements, pinned below to the versions that ran here. The proxy runs as
``litellm --config ... --num_workers 1`` (uvicorn, one worker, like `keel serve`), offline: the model cost
map is read from the package (``LITELLM_LOCAL_MODEL_COST_MAP``), not fetched from GitHub.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from bench._servers import ROOT, Service, free_port, start

VERSION = "1.110.2"
VENV = ROOT / ".bench" / "litellm-venv"
MASTER_KEY = "sk-bench-litellm"
# The `proxy` extra of litellm 1.110.2 minus `litellm-proxy` (not on the index); versions that ran here.
PROXY_REQUIREMENTS = (
    "APScheduler==3.11.3", "azure-identity==1.27.0", "azure-storage-blob==12.31.1", "backoff==2.2.1",
    "backports.zstd==1.8.0", "cryptography==50.0.2", "Expression==5.8.0", "fastapi==0.165.0",
    "fastapi-sso==0.23.0", "gunicorn==27.0.1", "hiredis==3.5.0", "httpx2==2.16.2", "inquirerpy==0.3.4",
    "litellm-enterprise==0.1.83", "litellm-proxy-extras==0.4.110", "mcp==2.3.0", "orjson==3.13.0",
    "polars==2.1.0", "PyJWT==2.15.1", "PyNaCl==1.6.2", "python-multipart==0.0.34", "RestrictedPython==9.0",
    "rich==15.0.0", "rq==3.0.0", "semver==3.1.2", "soundfile==0.14.0", "starlette==1.10.0", "tomlkit==0.15.2",
    "uvicorn==0.54.0", "uvloop==0.23.0", "websockets==17.4",
)
ENTITIES = ("CREDIT_CARD", "US_SSN", "EMAIL_ADDRESS", "PHONE_NUMBER", "IBAN_CODE", "IP_ADDRESS")  # Keel's input PII


def installed_version(venv: Path = VENV) -> str | None:
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    probe = subprocess.run([str(python), "-c", "import importlib.metadata as m, semver, litellm.proxy.proxy_cli; "
                            "print(m.version('litellm'))"], capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_installed(venv: Path = VENV) -> Path:
    """Create the venv and install the pinned LiteLLM proxy unless it is there already; returns its CLI."""
    if installed_version(venv) != VERSION:
        print(f"installing litellm=={VERSION} and its proxy requirements into {venv} ...", file=sys.stderr)
        if not (venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                        f"litellm=={VERSION}", *PROXY_REQUIREMENTS], check=True)
        if installed_version(venv) != VERSION:
            raise RuntimeError(f"litellm {VERSION} did not install into {venv}")
    return venv / "bin" / "litellm"


def config(upstream: str, model: str, presidio: str | None) -> dict[str, object]:
    """Proxy config: one model routed to ``upstream``; with ``presidio``, its PII guardrail on input and output."""
    cfg: dict[str, object] = {
        "model_list": [{"model_name": model, "litellm_params": {"model": f"openai/{model}",
                                                                "api_base": f"{upstream}/v1", "api_key": "unused"}}],
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {"telemetry": False},
    }
    if presidio:
        cfg["guardrails"] = [{"guardrail_name": "presidio-pii", "litellm_params": {
            "guardrail": "presidio", "mode": ["pre_call", "post_call"], "default_on": True,
            "presidio_analyzer_api_base": presidio, "presidio_anonymizer_api_base": presidio,
            "apply_to_output": True, "pii_entities_config": {entity: "MASK" for entity in ENTITIES},
        }}]
    return cfg


def start_proxy(name: str, cli: Path, tmp: Path, upstream: str, model: str, presidio: str | None = None) -> Service:
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config(upstream, model, presidio), sort_keys=False))
    port = free_port()
    env = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION"}
    return start(name, [str(cli), "--config", str(path), "--port", str(port), "--num_workers", "1"], tmp, env,
                 f"http://127.0.0.1:{port}", "/health/liveliness", 180, {"Authorization": f"Bearer {MASTER_KEY}"})


def start_presidio(tmp: Path) -> Service:
    """bench/_presidio_service.py from Keel's venv: Presidio's REST API, offline."""
    port = free_port()
    return start("presidio", [sys.executable, str(ROOT / "bench" / "_presidio_service.py"), "--port", str(port)],
                 tmp, {}, f"http://127.0.0.1:{port}", "/health", 120)
