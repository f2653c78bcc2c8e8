"""`autommate forgot-password status|enable|disable`, run as an operator would."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.commands.conftest import reason


def test_status(autommate) -> None:
    done = autommate("forgot-password", "status")
    assert done.returncode == 0, done.stderr
    assert "Forgot Password is off." in done.stdout
    assert "Configure the mail server first" in done.stdout


def test_status_as_json(autommate) -> None:
    state = json.loads(autommate("forgot-password", "status", "--json").stdout)
    assert state["enabled"] is False
    assert state["mail_ready"] is False
    assert state["link_lifetime_minutes"] == 60


def test_enable_refuses_with_the_reason_while_mail_is_unverified(autommate) -> None:
    done = autommate("forgot-password", "enable")
    assert reason(done) == (
        "Forgot Password stays off: Configure the mail server first: Forgot Password sends its "
        "links by email."
    )
    assert done.stderr.strip().count("\n") == 0
    assert json.loads(autommate("forgot-password", "status", "--json").stdout)["enabled"] is False


def test_disable_and_change_the_link_lifetime(autommate) -> None:
    done = autommate("forgot-password", "disable", "--link-lifetime", "30", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["link_lifetime_minutes"] == 30


def test_link_lifetime_out_of_range_fails(autommate) -> None:
    done = autommate("forgot-password", "disable", "--link-lifetime", "5")
    assert reason(done).startswith("link-lifetime-minutes: ")


def test_module_entry_point_and_help_know_the_hyphenated_name(autommate) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "autommate", "forgot-password", "status"],
        env=autommate.environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    helped = autommate("help", "forgot-password")
    assert helped.returncode == 0
    assert "status" in helped.stdout
