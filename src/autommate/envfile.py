"""The `.env` file: the operator's variables in one file, under the environment.

The file is read from the working directory, or from the path in `AUTOMMATE_ENV_FILE`. Only the
product's own variables are taken from it (`AUTOMMATE_*`, `DATABASE_URL`, `REDIS_URL`), and a
variable set in the environment always wins over the file.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from dotenv.parser import parse_stream

ENV_FILE_VARIABLE = "AUTOMMATE_ENV_FILE"
DEFAULT_ENV_FILE = ".env"
PREFIX = "AUTOMMATE_"
OTHER_NAMES = frozenset({"DATABASE_URL", "REDIS_URL"})


def is_product_variable(name: str) -> bool:
    """Say whether the product reads `name` (from the environment or the `.env` file)."""
    return (name.startswith(PREFIX) and name != ENV_FILE_VARIABLE) or name in OTHER_NAMES


def env_file_path(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """Return the `.env` file to read, or None when there is none."""
    environ = os.environ if environ is None else environ
    named = environ.get(ENV_FILE_VARIABLE, "").strip()
    if named:
        path = Path(named).expanduser()
        if not path.is_file() and str(path) != os.devnull:
            raise ImproperlyConfigured(
                f"{ENV_FILE_VARIABLE} names {named}, which is not a file. "
                f"Correct the path, or unset {ENV_FILE_VARIABLE} to read .env from here."
            )
        return path
    path = Path.cwd() / DEFAULT_ENV_FILE
    return path if path.is_file() else None


def read_env_file(path: Path) -> dict[str, str]:
    """Return the product's variables written in `path`, as written (no `${…}` expansion).

    A line that cannot be read is refused by its number, never echoed: it may hold a secret.
    """
    try:
        with path.open(encoding="utf-8") as stream:
            bindings = list(parse_stream(stream))
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "not UTF-8 text"
        raise ImproperlyConfigured(f"Cannot read {path}: {reason}.") from None
    values: dict[str, str] = {}
    for binding in bindings:
        if binding.error:
            raise ImproperlyConfigured(
                f"{path}, line {binding.original.line}: not a NAME=value line. "
                "Write one variable a line, quoting values that hold spaces or #."
            )
        if binding.key is not None and is_product_variable(binding.key):
            values[binding.key] = binding.value or ""
    return values


def load_env_file(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Put the `.env` file's variables into the environment where it has none; return them."""
    environ = os.environ if environ is None else environ
    path = env_file_path(environ)
    if path is None:
        return {}
    loaded = {name: value for name, value in read_env_file(path).items() if name not in environ}
    environ.update(loaded)
    return loaded
