"""What the composers of one delivery round share: settings read at most every few seconds."""

from __future__ import annotations

import time

import pytest

from autommate.delivery.composers import ROUND_VALUE_SECONDS, composing_round, round_value


class Reads:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"read {self.count}"


def test_outside_a_round_every_call_reads() -> None:
    reads = Reads()

    assert [round_value("sender", reads) for _ in range(3)] == ["read 1", "read 2", "read 3"]


def test_a_round_reads_a_value_once_and_the_next_round_again() -> None:
    reads = Reads()
    with composing_round():
        assert {round_value("sender", reads) for _ in range(3)} == {"read 1"}
    with composing_round():
        assert round_value("sender", reads) == "read 2"


def test_a_round_reads_again_once_the_value_is_older_than_its_lifetime(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    reads = Reads()
    with composing_round():
        assert round_value("sender", reads) == "read 1"
        now[0] += ROUND_VALUE_SECONDS - 0.1
        assert round_value("sender", reads) == "read 1"
        now[0] += 0.2
        assert round_value("sender", reads) == "read 2"


def test_values_of_different_names_are_kept_apart() -> None:
    with composing_round():
        assert round_value("sender", lambda: "a@example.org") == "a@example.org"
        assert round_value("lifetime", lambda: 60) == 60
        assert round_value("sender", lambda: "b@example.org") == "a@example.org"


def test_a_failed_read_is_not_kept() -> None:
    def refuse() -> str:
        raise ValueError("unusable sender")

    with composing_round():
        with pytest.raises(ValueError, match="unusable sender"):
            round_value("sender", refuse)
        assert round_value("sender", lambda: "a@example.org") == "a@example.org"
