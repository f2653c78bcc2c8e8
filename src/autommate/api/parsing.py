"""Reading API requests: JSON bodies only, and no text a database would refuse."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

JSON_TYPES = {"application/json"}


class UnsupportedMediaType(Exception):
    pass


class UnacceptableText(Exception):
    """Text no database column can hold: NUL characters or unpaired UTF-16 surrogates."""

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(field)


def _check_text(value: Any, field: str) -> None:
    pending = [(field, value)]
    while pending:
        name, item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UnacceptableText(name)
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UnacceptableText(name) from None
        elif isinstance(item, dict):
            for key, nested in item.items():
                pending.append((name, key))
                pending.append((f"{name}.{key}" if name else str(key), nested))
        elif isinstance(item, list):
            pending.extend((name, nested) for nested in item)


class JsonParser(Parser):
    """Accept JSON bodies only, and no text a database would refuse."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        media_type = request.content_type or ""
        if media_type not in JSON_TYPES and not media_type.endswith("+json"):
            raise UnsupportedMediaType(media_type)
        data = json.loads(request.body)
        _check_text(data, "")
        return data  # type: ignore[no-any-return]

    def parse_querydict(
        self, data: MultiValueDict, list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        for key, values in data.lists():
            _check_text(key, key)
            _check_text(values, key)
        return super().parse_querydict(data, list_fields, request)
