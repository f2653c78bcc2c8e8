from __future__ import annotations

import importlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from django.conf import settings as django_settings
from django.test import override_settings
from django.urls import clear_url_caches

from autommate.devmail.management.commands.devmail import catcher_protocol


@pytest.fixture(autouse=True)
def mail_dir(settings, tmp_path: Path) -> Path:
    directory = tmp_path / "devmail"
    settings.DEV_MAIL_DIR = directory
    return directory


def _reload_urls() -> None:
    importlib.reload(importlib.import_module(django_settings.ROOT_URLCONF))
    clear_url_caches()


@pytest.fixture
def dev_pages() -> Iterator[None]:
    """Run with DEBUG on and the URLs loaded as they are in development."""
    with override_settings(DEBUG=True):
        _reload_urls()
        yield
    _reload_urls()


@dataclass
class Catcher:
    host: str
    port: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class _ThreadedCatcher(Controller):
    def factory(self) -> SMTP:
        return catcher_protocol()


@pytest.fixture
def catcher() -> Iterator[Catcher]:
    """The mail catcher's SMTP server, running in a thread of the test process."""
    controller = _ThreadedCatcher(None, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield Catcher(controller.hostname, controller.port)
    finally:
        controller.stop()
