"""The `<id:…>` path converter: object ids in URLs are 1 to 18 ASCII digits.

Django's `<int:…>` accepts any length, so /app/accounts/<30 digits>/ reached a
query with a number no database column holds. Importing this module registers
the converter (once: a module runs once).
"""

from __future__ import annotations

from django.urls import register_converter

from portal.untrusted import ID_RE


class IdConverter:
    regex = ID_RE.pattern

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)


register_converter(IdConverter, "id")
