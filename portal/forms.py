"""Form building blocks shared by the apps (self-service forms and the admin's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms


def drop_browser_length_limits(fields: Iterable[forms.Field]) -> None:
    """Remove the HTML `maxlength` Django puts on text inputs of fields with a max_length.

    With it, a browser silently cuts what is typed or pasted at N characters
    (a 500-character name saved as its first 200). Without it the text reaches
    the server whole, the field's own validator refuses it ("Ensure this value
    has at most N characters (it has M)."), and the form comes back with the
    text as typed."""
    for field in fields:
        field.widget.attrs.pop("maxlength", None)


class RefuseTooLongText:
    """Mixin for a Form: too-long text is refused with a message, never cut by the browser."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        drop_browser_length_limits(self.fields.values())
