"""The lock files pin every dependency of pyproject.toml, each with hashes, and the build floor fits."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, Version]:
    text = (ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(name): Version(version) for name, version in PIN.findall(text)}


def requirement_blocks(lock: str) -> list[str]:
    text = (ROOT / "requirements" / lock).read_text()
    return [block for block in re.split(r"\n(?=[A-Za-z0-9])", text) if PIN.match(block)]


def check_pinned(lock: str, wanted: list[str]) -> list[str]:
    pinned = pins(lock)
    problems = []
    for line in wanted:
        requirement = Requirement(line)
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None:
            problems.append(f"{requirement.name} is not in requirements/{lock}")
        elif version not in requirement.specifier:
            problems.append(f"{requirement.name}=={version} does not satisfy {requirement.specifier}")
    return problems


def test_runtime_lock_pins_every_dependency_within_its_range() -> None:
    assert check_pinned("runtime.txt", PROJECT["project"]["dependencies"]) == []


def test_test_lock_pins_runtime_and_test_dependencies() -> None:
    wanted = PROJECT["project"]["dependencies"] + PROJECT["project"]["optional-dependencies"]["test"]
    assert check_pinned("test.txt", wanted) == []


def test_every_pinned_package_carries_a_hash() -> None:
    for lock in ("runtime.txt", "test.txt"):
        blocks = requirement_blocks(lock)
        assert blocks, lock
        unhashed = [block.split("==")[0] for block in blocks if "--hash=sha256:" not in block]
        assert unhashed == [], f"{lock}: {unhashed}"


def test_a_missing_pin_is_reported() -> None:
    assert check_pinned("runtime.txt", ["no-such-package>=1"]) == [
        "no-such-package is not in requirements/runtime.txt"
    ]
    assert check_pinned("runtime.txt", ["jinja2>=999"]) != []


def test_build_floor_understands_the_spdx_license_string() -> None:
    # setuptools learned `license = "MIT"` (PEP 639) in 77; an older floor lets a build fail.
    assert isinstance(PROJECT["project"]["license"], str)
    floors = [Requirement(line) for line in PROJECT["build-system"]["requires"]]
    setuptools = next(requirement for requirement in floors if requirement.name == "setuptools")
    assert Version("76.9") not in setuptools.specifier
    assert Version("77.0") in setuptools.specifier
