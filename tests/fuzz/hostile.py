"""Hostile input for the fuzz suite: values, strategies, and the project's URL
patterns read from the resolver (so a page added later is fuzzed without
touching these tests)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

# The values that broke Parkway before (see issue 9) and their relatives.
HOSTILE_VALUES: tuple[str, ...] = (
    "", "0", "-1", "1", "²", "1²", "٣", "１２", "99999999999999999999999", str(2**63), str(2**63 - 1), "1e3", "0x10",
    " 1", "1 ", "1,2", "1.5", "abc", "\x00", "a\x00b", "1\x00", "%00", "overview", "admin:index", "login",
    "tenants:overview", "//evil.test", "///evil.test", "https://evil.test/", "/\\evil.test", "\\\\evil.test",
    "/\t/evil.test", "javascript:alert(1)", "../../etc/passwd", "<script>alert(1)</script>", "' OR 1=1 --",
    "{account_id:>100000000000}", "{0.__class__}", "%s%s%n", "x" * 5000, "ü" * 300, "\u202e\u0000\ufeff", "None",
    "null", "true", "[]", "{}", "\r\n", "1\n", "e", "?", "#", "/", "//", "-", "_", ".", "..",
)

# Every reachable page and form gets each of these in every parameter and field
# (rotated, so that each parameter meets each value in len(CORE_VALUES) requests).
CORE_VALUES: tuple[str, ...] = ("²", "99999999999999999999999", "overview", "a\x00b", "//evil.test", "-1")

# Text the test client can send (no lone surrogates: they cannot be encoded).
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
NUMBERS = st.integers(min_value=-(2**70), max_value=2**70).map(str)
HOSTILE = st.one_of(st.sampled_from(HOSTILE_VALUES), TEXT, NUMBERS)

# Query parameters our pages and Django's admin read; the fuzz adds every
# list-filter parameter of every registered ModelAdmin to these.
QUERY_KEYS: tuple[str, ...] = (
    "next", "from", "page", "runs_page", "actions_page", "events_page", "account", "region", "state", "schedule",
    "outcome", "since", "until", "tenant", "q", "o", "p", "e", "all", "_popup", "_to_field", "_changelist_filters", "_facets", "app_label",
    "model_name", "field_name", "term", "auth", "scope", "assigned", "asg", "snoozed", "locked_out", "language",
)
# Extra POST keys that steer admin views and actions.
POST_KEYS: tuple[str, ...] = (
    "next", "action", "_selected_action", "select_across", "index", "confirm", "post", "_save", "_continue",
    "_addanother", "_saveasnew", "tenant", "schedule", "hours", "until", "state", "reason", "role_arn",
)


def fuzz_settings(examples: int) -> settings:
    """Bounded and reproducible: CI runs the same examples every time;
    PARKWAY_FUZZ_SCALE=10 runs ten times as many."""
    scale = float(os.environ.get("PARKWAY_FUZZ_SCALE", "1"))
    return settings(
        max_examples=max(1, int(examples * scale)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# --------------------------------------------------------------------------- URL patterns


@dataclass(frozen=True)
class Route:
    """One URL pattern of the project, with the regexes of its path arguments."""

    name: str  # "namespace:name", or the route text for unnamed patterns
    parts: tuple[tuple[str, str | None], ...]  # literal text, or ("", regex) for an argument
    arguments: tuple[str, ...]
    regex: str  # the whole path, for patterns written as regexes

    def path(self, values: dict[str, str]) -> str:
        from urllib.parse import quote

        return "/" + "".join(quote(values[text], safe="") if regex is not None else text for text, regex in self.parts)


_ROUTE_ARG = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


def project_routes() -> list[Route]:
    """Every URL pattern reachable from ROOT_URLCONF."""

    def walk(patterns: list, prefix: list[object], namespace: str | None) -> Iterator[Route]:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = ":".join(filter(None, [namespace, entry.namespace])) or None
                yield from walk(entry.url_patterns, prefix + [entry.pattern], inner)
            elif isinstance(entry, URLPattern):
                yield _route(prefix + [entry.pattern], f"{namespace or ''}:{entry.name}" if entry.name else None)

    return list(walk(get_resolver().url_patterns, [], None))


def _route(patterns: list[object], name: str | None) -> Route:
    parts: list[tuple[str, str | None]] = []
    arguments: list[str] = []
    regex = ""
    for pattern in patterns:
        text = str(pattern)
        if not isinstance(pattern, RoutePattern):  # a RegexPattern: generate the whole piece from its regex
            piece = text.lstrip("^").removesuffix("$").removesuffix("\\Z")
            regex += piece
            arguments.append(f"regex:{piece}")
            parts.append((f"regex:{piece}", piece))
            continue
        position = 0
        regex += pattern.regex.pattern.lstrip("^").removesuffix("\\Z")
        for match in _ROUTE_ARG.finditer(text):
            parts.append((text[position : match.start()], None))
            arguments.append(match["name"])
            parts.append((match["name"], pattern.converters[match["name"]].regex))
            position = match.end()
        parts.append((text[position:], None))
    return Route(name=name or "".join(map(str, patterns)) or "<root>", parts=tuple(parts), arguments=tuple(arguments), regex=regex)


def path_argument(route: Route, argument: str, known: list[str]) -> st.SearchStrategy[str]:
    """A value for one path argument: a real id, something its converter
    accepts, or anything hostile."""
    regex = dict(route.parts)[argument]
    matching = st.from_regex(regex, fullmatch=True).map(lambda v: v[:300])
    options = [st.sampled_from(HOSTILE_VALUES), matching]
    if known:
        options.insert(0, st.sampled_from(known))
    return st.one_of(options)


# --------------------------------------------------------------------------- forms


@dataclass
class Field:
    name: str
    values: list[str]  # what the page offers: the input's value, or a select's options

    @property
    def offered(self) -> str:
        """The value a person would send: the selected or first real option, or the input's value."""
        return next((value for value in self.values if value), "")


@dataclass
class Form:
    action: str  # the URL it posts to
    fields: list[Field]


class FormScanner(HTMLParser):
    """Every <form method="post"> on a page: where it posts, and its fields."""

    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self._fields: dict[str, Field] | None = None
        self._select: Field | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            if attributes.get("method", "get").lower() == "post":
                self._fields = {}
                self.forms.append(Form(urljoin(self.page_url, attributes.get("action") or self.page_url), []))
            return
        if self._fields is None:
            return
        if tag in ("input", "textarea", "button") and attributes.get("name"):
            field = self._fields.setdefault(attributes["name"], Field(attributes["name"], []))
            if attributes.get("value") and (attributes.get("type") not in ("checkbox", "radio") or "checked" in attributes or not field.values):
                field.values.append(attributes["value"])
        elif tag == "select" and attributes.get("name"):
            self._select = self._fields.setdefault(attributes["name"], Field(attributes["name"], []))
        elif tag == "option" and self._select is not None and "value" in attributes:
            if "selected" in attributes:
                self._select.values.insert(0, attributes["value"])
            else:
                self._select.values.append(attributes["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._fields is not None:
            self.forms[-1].fields = list(self._fields.values())
            self._fields = None
        elif tag == "select":
            self._select = None


def page_forms(html: str, page_url: str) -> list[Form]:
    scanner = FormScanner(page_url)
    scanner.feed(html)
    for form in scanner.forms:  # the test client does not check CSRF tokens
        form.fields = [f for f in form.fields if f.name != "csrfmiddlewaretoken"]
    return [form for form in scanner.forms if form.fields]
