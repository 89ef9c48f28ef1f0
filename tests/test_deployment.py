"""docker-compose.yaml, Dockerfile and .env.example, validated statically (no Docker engine here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from amazon_sage.settings import ENV_PREFIX, SETTINGS

PROJECT = Path(__file__).resolve().parents[1]
COMPOSE = PROJECT / "docker-compose.yaml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_follows_the_compose_spec() -> None:
    schema = json.loads((PROJECT / "tests" / "data" / "compose_spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(_compose())


def test_compose_has_the_airflow_3_topology() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
            "airflow-worker", "airflow-triggerer", "airflow-init"} <= set(services)
    common = _compose()["x-airflow-common"]["environment"]
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "${AIRFLOW_JWT_SECRET}" in common["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver:8080")
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init and "amazon_sage.cli.pools" in init and "passwords" in init


def test_every_referenced_path_and_variable_exists() -> None:
    text = COMPOSE.read_text()
    for mount in re.findall(r"- (\./[^:\s]+):", text):
        assert (PROJECT / mount).exists(), f"{mount} is mounted but does not exist"
    assert (PROJECT / "Dockerfile").is_file()
    defined = {line.split("=", 1)[0] for line in (PROJECT / ".env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    for name in set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)\}", text)):
        assert name in defined, f"${{{name}}} is used by docker-compose.yaml but missing from .env.example"
    for name in re.findall(rf"\b{ENV_PREFIX}([A-Z0-9_]+)", text + "\n".join(defined)):
        assert name in SETTINGS, f"{ENV_PREFIX}{name} is not a setting"
    for conn in ("AMAZON_SP_API_DEFAULT", "SAGE50_DEFAULT", "AWS_DEFAULT", "AMAZON_SAGE_ARCHIVE_KEY"):
        value = next(line for line in (PROJECT / ".env.example").read_text().splitlines()
                     if line.startswith(f"AIRFLOW_CONN_{conn}="))
        json.loads(value.split("=", 1)[1])


def test_dockerfile_matches_the_pinned_airflow() -> None:
    dockerfile = (PROJECT / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (PROJECT / "requirements.txt").read_text(), re.M).group(1)
    assert f"FROM apache/airflow:{pinned}-python3.11" in dockerfile
    assert all(package in dockerfile for package in ("unixodbc", "libsqliteodbc", "tdsodbc"))
    assert "requirements.txt" in dockerfile


def test_the_image_installs_the_runtime_and_the_provider_but_no_test_tools() -> None:
    from tests.operate.provider_install import SOURCES

    dockerfile = (PROJECT / "Dockerfile").read_text()
    installs = re.findall(r"^RUN pip install (.+)$", dockerfile, re.M)
    assert installs == ["--no-cache-dir -r /opt/airflow/requirements.txt",
                        "--no-cache-dir --no-deps /opt/airflow/amazon-sage"], installs
    instructions = "\n".join(line for line in dockerfile.splitlines() if not line.startswith("#"))
    assert "requirements-dev" not in instructions
    copied = dict(re.findall(r"^COPY --chown=airflow:0 (\S+) /opt/airflow/amazon-sage/(\S+)$", dockerfile, re.M))
    assert copied == {source: source for source in SOURCES}, "the image must build from what pip install . reads"
    assert all((PROJECT / source).exists() for source in copied)
    # The mounted plugins shadow the installed copy, so the running code is the checkout's.
    assert _compose()["x-airflow-common"]["environment"]["PYTHONPATH"] == "/opt/airflow/plugins"
    assert "- ./plugins:/opt/airflow/plugins" in COMPOSE.read_text()


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose (the validator) is not installed")
def test_docker_compose_config_accepts_it(tmp_path: Path) -> None:
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yaml")
    shutil.copy(PROJECT / ".env.example", tmp_path / ".env")  # as a user would, before `docker compose up`
    done = subprocess.run(["docker-compose", "config", "-q"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
