"""Load django-ninja for a server: without Django's test framework, and with fewer models.

`prepare_ninja()` runs before anything of the API imports django-ninja (`autommate.api.urls`
calls it first; `autommate.api.conventions`, which every router imports, shares the response
models too), and changes nothing the API answers or documents:

- django-ninja's settings listen to `django.test.signals.setting_changed`. Importing that module
  runs `django/test/__init__.py` first, which loads the test client, `unittest` and `xml` (about
  1.7 MiB per web worker) for a signal that `django.core.signals` defines and that no server
  sends. The signals module is imported under a parent package that is not executed and is
  forgotten right after, so a later `import django.test` (in tests) still runs it in full.
- django-ninja builds a pydantic model per operation and per status for the response body,
  with its own validator and serializer, even where the body is the same: every operation
  documents five or more failures as `ErrorOut`. Operations that answer with the same type
  share one such model (about 1.8 MiB per web worker); the model holds only that type.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

TEST_PACKAGE = "django.test"


def _import_test_signals_alone() -> None:
    if TEST_PACKAGE in sys.modules:
        return
    spec = importlib.util.find_spec(TEST_PACKAGE)
    if spec is None:  # pragma: no cover - Django always has it
        return
    sys.modules[TEST_PACKAGE] = importlib.util.module_from_spec(spec)
    try:
        importlib.import_module(f"{TEST_PACKAGE}.signals")
    finally:
        del sys.modules[TEST_PACKAGE]


def share_response_models() -> None:
    """Make operations that answer with the same type share django-ninja's model for it."""
    from ninja.operation import Operation

    if getattr(Operation, "_autommate_shared_response_models", False):
        return
    create = Operation._create_response_model
    models: dict[Any, Any] = {}

    def shared_response_model(self: Operation, response_param: Any) -> Any:
        try:
            return models[response_param]
        except KeyError:
            model = models[response_param] = create(self, response_param)
            return model
        except TypeError:  # Not hashable: a model of its own, as django-ninja makes it.
            return create(self, response_param)

    Operation._create_response_model = shared_response_model  # type: ignore[method-assign]
    Operation._autommate_shared_response_models = True  # type: ignore[attr-defined]


def prepare_ninja() -> None:
    """Set django-ninja up for this process before the API imports it; run it more than once."""
    _import_test_signals_alone()
    share_response_models()
