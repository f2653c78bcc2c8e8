"""django-ninja as a server loads it: shared response models, and no test framework."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from autommate.api.conventions import ErrorOut
from autommate.api.site import api

SRC = Path(__file__).resolve().parents[2] / "src"


def _response_models() -> list[tuple[str, int, object]]:
    return [
        (operation.view_func.__name__, code, model)
        for _, router in api._routers
        for path_view in router.path_operations.values()
        for operation in path_view.operations
        for code, model in operation.response_models.items()
        if isinstance(model, type)
    ]


def test_every_failure_of_every_operation_shares_one_response_model() -> None:
    documented = [
        model
        for _, _, model in _response_models()
        if model.model_fields["response"].annotation is ErrorOut  # type: ignore[attr-defined]
    ]

    # Five or more failures for each of more than twenty operations, one model among them.
    assert len(documented) > 100
    assert len({id(model) for model in documented}) == 1


def test_operations_answering_with_the_same_type_share_its_model() -> None:
    by_type: dict[object, set[int]] = {}
    for _, _, model in _response_models():
        annotation = model.model_fields["response"].annotation  # type: ignore[attr-defined]
        by_type.setdefault(annotation, set()).add(id(model))

    assert all(len(models) == 1 for models in by_type.values())


PREPARE = """
import json, sys

from autommate.api.ninja_setup import prepare_ninja

prepare_ninja()
prepared = {
    "django.test": "django.test" in sys.modules,
    "django.test.signals": "django.test.signals" in sys.modules,
    "unittest": "unittest" in sys.modules,
}
import ninja.conf
import django.test
from django.test import TestCase, signals
from django.test.signals import setting_changed

print(json.dumps({
    "prepared": prepared,
    "ninja_listens": any(
        receiver is ninja.conf.reload_ninja_settings
        for _, receiver in [(key, ref()) for key, ref, *_ in setting_changed.receivers]
    ),
    "test_case": TestCase.__module__,
    "same_signals": signals is sys.modules["django.test.signals"],
}))
"""


def test_ninja_loads_without_the_test_framework_which_still_loads_in_full() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "DJANGO_SETTINGS_MODULE": "autommate.settings",
        "AUTOMMATE_ENV_FILE": os.devnull,
        "AUTOMMATE_DEBUG": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", PREPARE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert report["prepared"] == {
        "django.test": False,
        "django.test.signals": True,
        "unittest": False,
    }
    # django-ninja's settings still follow changed settings (in tests), and a later import
    # of Django's test framework is the whole of it.
    assert report["ninja_listens"]
    assert report["test_case"] == "django.test.testcases"
    assert report["same_signals"]
