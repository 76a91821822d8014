"""Reading a request's query string: every value kept, odd bytes harmless, repeated parameters refused."""

from __future__ import annotations

from urllib.parse import parse_qsl

from .. import events
from ..errors import Refusal

__all__ = ["query_params", "single_param"]

PARAM_REPEATED = "refused: %s is given %d times"
QUERY_REFUSED = "refused: the query string cannot be parsed (%s)"

_MAX_QUERY_FIELDS = 64


def query_params(query_string: str, *, endpoint: str) -> list[tuple[str, str]]:
    """The query's pairs; bytes that are not UTF-8 are kept as surrogates, so they never equal a good value.

    :param endpoint: the path asking, for the event of a refusal (``query.refused``).
    """
    if not query_string:
        return []
    try:
        return parse_qsl(
            query_string, keep_blank_values=True, errors="surrogateescape", max_num_fields=_MAX_QUERY_FIELDS
        )
    except ValueError as exc:
        events.emit(events.QUERY_REFUSED, QUERY_REFUSED, exc, endpoint=endpoint, reason="query_unparsable")
        raise Refusal(400, "the query string has too many parameters") from None


def single_param(params: list[tuple[str, str]], name: str, *, endpoint: str) -> str | None:
    """The one non-empty value of *name*; empty values are ignored, repeated ones refused.

    :param endpoint: the path asking, for the event of a refusal (``query.refused``).
    """
    values = [value for key, value in params if key == name and value]
    if len(values) > 1:
        events.emit(events.QUERY_REFUSED, PARAM_REPEATED, name, len(values), endpoint=endpoint, reason="param_repeated")
        raise Refusal(400, f"{name} is given more than once")
    return values[0] if values else None
