"""Keyset (cursor) pagination shared by every list endpoint.

A page is `?limit=` items (400 above the maximum, never clamped) after an opaque `?cursor=`;
the next page's URL travels in a `Link: <…>; rel="next"` header, absent on the last page.
No COUNT, no OFFSET: each page is one indexed range scan whatever the table's size.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from social.exceptions import InvalidCursor

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 512


@dataclass(frozen=True)
class Page:
    """What every paged selector returns: the page's rows and the next page's cursor (None on
    the last page, or for lists paged by other means, like a chat's history by offset)."""

    items: list
    next_cursor: str | None = None


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: list | None  # the cursor's key values, or None for the first page


def parse_limit(raw: str | None, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    if raw is None or raw == "":
        return default
    # isascii(): str.isdigit() accepts "²", which int() refuses; the length bound keeps int()
    # below Python's 4300-digit conversion limit. Either would be a 500, not a 400.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= maximum:
        raise ValidationError({"limit": [f"Должно быть целым числом от 1 до {maximum}."]})
    return int(raw)


def encode_cursor(values: Sequence) -> str:
    raw = json.dumps([str(value) for value in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(raw: str | None, *, size: int) -> list | None:
    if raw is None or raw == "":
        return None
    invalid = InvalidCursor()
    if len(raw) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        values = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(values, list) or len(values) != size or not all(isinstance(v, str) for v in values):
        raise invalid
    if any("\x00" in value for value in values):
        # PostgreSQL refuses NUL in text: a forged cursor on a text key would be a 500.
        raise invalid
    return values


def page_request(query_params, *, key_size: int, default_limit: int = DEFAULT_LIMIT, max_limit: int = MAX_LIMIT):
    """Read `limit` and `cursor` from a request's query parameters (ValidationError → 400)."""
    return PageRequest(
        limit=parse_limit(query_params.get("limit"), default=default_limit, maximum=max_limit),
        after=decode_cursor(query_params.get("cursor"), size=key_size),
    )


def keyset_filter(
    queryset: QuerySet, *, fields: Sequence[str], after: list | None, descending: bool = True
) -> QuerySet:
    """Rows strictly after `after` in the order of `fields` (a lexicographic compare),
    descending by default, ascending with `descending=False`.

    The queryset must be ordered by the same fields in that direction, and the last field must
    be unique (the primary key) so that no row is skipped or repeated. A cursor whose values do
    not parse as the fields' types is a 400.
    """
    if after is None:
        return queryset
    after = cursor_values([_field_of(queryset, field) for field in fields], after)
    beyond, bound = ("lt", "lte") if descending else ("gt", "gte")
    # The OR chain alone cannot start an index range scan; the redundant bound on the first
    # field can, so a deep page does not scan (and discard) every row before the cursor.
    condition = Q(**{f"{fields[0]}__{bound}": after[0]})
    alternatives = Q()
    for index, field in enumerate(fields):
        equal = {f: after[i] for i, f in enumerate(fields[:index])}
        alternatives |= Q(**equal, **{f"{field}__{beyond}": after[index]})
    condition &= alternatives
    return queryset.filter(condition)


def cursor_values(fields: Sequence, after: list) -> list:
    """A cursor's values as the Python values of its key's model `fields`: converted before
    any query runs, so that a value that does not parse as its field's type is a 400 rather
    than an error when the query runs."""
    try:
        return [field.to_python(value) for field, value in zip(fields, after, strict=True)]
    except (ValidationError, ValueError, TypeError):
        raise InvalidCursor() from None


def _field_of(queryset: QuerySet, name: str):
    """The model field (or annotation's output field) that `name` orders the queryset by."""
    annotation = queryset.query.annotations.get(name)
    if annotation is not None:
        return annotation.output_field
    model, *path = [queryset.model, *name.split("__")]
    field = None
    for part in path:
        field = model._meta.get_field(part)
        model = field.related_model or model
    return field.target_field if field.is_relation else field


def take_page(queryset: QuerySet, *, limit: int, key) -> Page:
    """Fetch one page (limit + 1 rows tell whether a next page exists) and its next cursor."""
    return page_cut(list(queryset[: limit + 1]), limit=limit, key=key)


def page_cut(rows: list, *, limit: int, key) -> Page:
    """One page of `rows`, fetched `limit + 1` at a time, and the next page's cursor: the
    extra row only tells that there is one."""
    if len(rows) <= limit:
        return Page(items=rows)
    rows = rows[:limit]
    return Page(items=rows, next_cursor=encode_cursor(key(rows[-1])))


def next_link(request, cursor: str | None) -> dict:
    """Headers for a page: `Link: <next page URL>; rel="next"` when there is one."""
    if cursor is None:
        return {}
    # The request's query with `cursor` set, in the order and encoding of `request.GET.copy()`,
    # `["cursor"] = cursor` and `.urlencode()`: that copy deep-copies every value, the dearest
    # part of a page's Link (~2% of a feed page's CPU, issue #26). tests/test_pagination.py
    # holds the two equal.
    pairs = []
    for key, values in request.GET.lists():
        if key == "cursor":
            pairs.append((key, cursor))
            cursor = None
        else:
            pairs.extend((key, value) for value in values)
    if cursor is not None:
        pairs.append(("cursor", cursor))
    url = request.build_absolute_uri(f"{request.path}?{urlencode(pairs)}")
    return {"Link": f'<{url}>; rel="next"'}
