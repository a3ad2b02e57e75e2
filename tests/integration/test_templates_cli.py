"""Template versions through the CLI: export, edit, preview, import, history, rollback, reset."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

MANAGE_LINK = re.compile(r"/m/[\w-]+(?![\w-]|/booking\.ics)")  # not the .ics download (issue 18)


@pytest.fixture
def seeded(run_cli: Any) -> Any:
    run_cli("db", "upgrade", check=True)
    run_cli("demo", check=True)
    return run_cli


def _subject(run_cli: Any, variant: str = "manage") -> str:
    out = run_cli(
        "templates", "preview", "confirmation", "--locale", "de", "--variant", variant, "--json", check=True
    )
    return str(json.loads(out.stdout)["subject"])


def test_edit_preview_save_rollback_reset(seeded: Any, tmp_path: Path) -> None:
    """An edited German confirmation becomes v1, a second edit v2; rollback to v1; reset to the default."""
    export = tmp_path / "export"
    seeded("templates", "export", str(export), check=True)
    subject_file = export / "de" / "confirmation.subject.txt"
    mjml_file = export / "de" / "confirmation.mjml"
    assert subject_file.exists() and mjml_file.exists() and (export / "de" / "confirmation.txt").exists()
    default_subject = _subject(seeded)

    subject_file.write_text("Bestätigt: {{ booking.service_name }} (Version eins)\n", encoding="utf-8")
    first = json.loads(seeded("templates", "import", str(export), "--json", check=True).stdout)
    assert first["saved"] == [{"kind": "confirmation", "locale": "de", "version": 1}]
    assert _subject(seeded).endswith("(Version eins)")

    subject_file.write_text("Bestätigt: {{ booking.service_name }} (Version zwei)\n", encoding="utf-8")
    seeded("templates", "import", str(export), check=True)
    assert _subject(seeded).endswith("(Version zwei)")
    history = json.loads(
        seeded("templates", "history", "confirmation", "--locale", "de", "--json", check=True).stdout
    )
    assert [(v["version"], v["current"]) for v in history] == [(1, False), (2, True)]

    rolled_back = json.loads(
        seeded(
            "templates", "rollback", "confirmation", "--locale", "de", "--version", "1", "--json", check=True
        ).stdout
    )
    in_force = {"kind": "confirmation", "locale": "de", "source": "version 1", "version": 1, "versions": 2}
    assert rolled_back == in_force
    assert _subject(seeded).endswith("(Version eins)")
    listed = json.loads(seeded("templates", "list", "--json", check=True).stdout)
    row = next(r for r in listed if r["kind"] == "confirmation" and r["locale"] == "de")
    assert row == in_force

    reset = json.loads(
        seeded("templates", "reset", "confirmation", "--locale", "de", "--json", check=True).stdout
    )
    assert reset == {**in_force, "source": "default", "version": None}
    assert _subject(seeded) == default_subject
    said = seeded("templates", "reset", "confirmation", "--locale", "de", check=True).stdout
    assert said == "confirmation/de: default in force\n"


def test_broken_import_saves_nothing_and_names_the_line(seeded: Any, tmp_path: Path) -> None:
    """A Jinja syntax error and an unknown mj tag stop the whole import, with line numbers."""
    export = tmp_path / "export"
    seeded("templates", "export", str(export), check=True)
    (export / "en" / "reminder.subject.txt").write_text("Reminder {{ booking.ref \n", encoding="utf-8")
    mjml = (export / "de" / "cancelled.mjml").read_text(encoding="utf-8")
    lines = mjml.splitlines()
    lines.insert(3, "<mj-bogus>x</mj-bogus>")
    (export / "de" / "cancelled.mjml").write_text("\n".join(lines), encoding="utf-8")
    result = seeded("templates", "import", str(export))
    assert result.returncode != 0
    assert "nothing imported" in result.stderr
    assert "reminder/en subject, line 1: Jinja syntax" in result.stderr
    assert "cancelled/de body, line 4: unknown MJML tag <mj-bogus>" in result.stderr
    listed = json.loads(seeded("templates", "list", "--json", check=True).stdout)
    assert all(r["source"] == "default" and r["versions"] == 0 for r in listed)
    report = seeded("templates", "validate", str(export), "--json")
    assert report.returncode == 1
    assert len(json.loads(report.stdout)["problems"]) == 2


def test_sandbox_escape_and_unknown_variable_are_rejected(seeded: Any, tmp_path: Path) -> None:
    """Templates that reach for Python internals or for variables that do not exist are refused."""
    export = tmp_path / "export"
    seeded("templates", "export", str(export), check=True)
    text_file = export / "en" / "confirmation.txt"
    original = text_file.read_text(encoding="utf-8")
    for payload, expected in (
        ("{{ ''.__class__.__mro__ }}", "sandbox"),
        ("{{ config }}", "unknown variable"),
        ("{{ booking.secret_field }}", "unknown variable"),
    ):
        text_file.write_text(original + "\n" + payload + "\n", encoding="utf-8")
        result = seeded("templates", "import", str(export))
        assert result.returncode != 0, payload
        assert expected in result.stderr, (payload, result.stderr)
    listed = json.loads(seeded("templates", "list", "--json", check=True).stdout)
    assert all(r["versions"] == 0 for r in listed)


def test_preview_writes_html_with_and_without_button(seeded: Any, tmp_path: Path) -> None:
    """--out writes the HTML; the manage variant has the manage link, the other the instructions."""
    with_button = tmp_path / "manage.html"
    without = tmp_path / "no-manage.html"
    seeded(
        "templates",
        "preview",
        "reminder",
        "--locale",
        "en",
        "--variant",
        "manage",
        "--out",
        str(with_button),
        check=True,
    )
    seeded(
        "templates",
        "preview",
        "reminder",
        "--locale",
        "en",
        "--variant",
        "no-manage",
        "--out",
        str(without),
        check=True,
    )
    assert MANAGE_LINK.search(with_button.read_text()) and not MANAGE_LINK.search(without.read_text())
    bad = seeded("templates", "preview", "reminder", "--locale", "es")  # no Spanish templates
    assert bad.returncode == 2 and "unknown template locale" in bad.stderr
