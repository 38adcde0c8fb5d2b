"""What every endpoint module shares: ids, pagination, the error schema, form checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django import forms
from django.db.models import QuerySet
from ninja import Field, Schema

from api.errors import ApiError
from portal.untrusted import MAX_ID

T = TypeVar("T")

MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50
MAX_PAGE = 100_000
# Path ids: anything else is a 422 before any query (a number past bigint would be a database error).
ID = {"ge": 1, "le": MAX_ID}


class ErrorDetail(Schema):
    code: str = Field(..., description="Stable, machine-readable: not_found, forbidden, invalid, rate_limited, …")
    message: str = Field(..., description="For a person: what went wrong and what to do.")
    fields: dict[str, list[str]] = Field(
        default_factory=dict, description="Input field (dotted path; __all__ for the whole input) → its messages."
    )


class Error(Schema):
    error: ErrorDetail


# The errors any authenticated endpoint may answer.
ERRORS: dict[int, type] = {400: Error, 401: Error, 403: Error, 404: Error, 422: Error, 429: Error}


class Page(Schema, Generic[T]):
    items: list[T]
    count: int = Field(..., description="Items matching, on every page.")
    page: int
    per_page: int
    pages: int


def paginate(rows: QuerySet | Sequence[Any], *, page: int, per_page: int,
             convert: Callable[[list[Any]], list[Any]]) -> dict[str, Any]:
    """One page of `rows` (pages numbered from 1; past the last, an empty page)."""
    count = rows.count() if isinstance(rows, QuerySet) else len(rows)
    start = (page - 1) * per_page
    chunk = list(rows[start:start + per_page]) if start < count else []
    return {"items": convert(chunk), "count": count, "page": page, "per_page": per_page,
            "pages": max(1, math.ceil(count / per_page))}


def checked(form: forms.Form) -> dict[str, Any]:
    """The form's cleaned data, or a 422 with its messages: the API checks input
    with the very forms the pages use, so both refuse the same things."""
    if form.is_valid():
        return form.cleaned_data
    fields = {("__all__" if name == "__all__" else name): [str(m) for m in errors] for name, errors in form.errors.items()}
    message = " ".join(m for messages in fields.values() for m in messages)[:1000]
    raise ApiError(422, message or "The request is not valid.", fields=fields)
