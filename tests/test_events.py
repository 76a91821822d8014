"""The registry of events: well formed, the only way the package logs, emitted as it says, and documented as it is.

What real flows emit, and that no secret is in it, is tests/test_event_records.py.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

import logout_middleware
from logout_middleware import LogoutConfig, events
from logout_middleware.core.logout import token_cookies
from tests.support.apps import ID_TOKEN
from tests.support.events_doc import level_text, values_text
from tests.support.transports import middleware_sender

PACKAGE = Path(logout_middleware.__file__).parent
DOCS = PACKAGE.parent / "docs"
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
LEVELS = {logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL}

# The helpers that emit an event for their caller: the event, and which argument (a position, or a keyword) holds
# which field.
HELPERS: dict[str, tuple[events.Event, dict[int | str, str]]] = {
    "method_not_allowed": (events.REQUEST_METHOD_REFUSED, {0: "endpoint"}),
    "_refused": (events.BACKCHANNEL_REFUSED, {1: "reason"}),
    "_Refused": (events.BACKCHANNEL_REFUSED, {1: "reason"}),
    "LogoutTokenError": (events.BACKCHANNEL_REFUSED, {"reason": "reason"}),
    "_frame_refused": (events.FRONTCHANNEL_REFUSED, {1: "reason"}),
    "_retry_later": (events.BACKCHANNEL_UNAVAILABLE, {3: "reason"}),
    "_unavailable": (events.CHECK_UNAVAILABLE, {3: "reason"}),
    "query_params": (events.QUERY_REFUSED, {"endpoint": "endpoint"}),
    "single_param": (events.QUERY_REFUSED, {"endpoint": "endpoint"}),
    "verdict": (events.CHECK_STRIPPED, {"endpoint": "endpoint"}),
}


def sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def calls() -> Iterator[tuple[Path, ast.Call]]:
    for path, tree in sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                yield path, node


def callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def emitted_event(call: ast.Call) -> events.Event | None:
    """The event of an ``events.emit(events.NAME, ...)`` call, or None for any other call."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "emit" and ast.unparse(func.value) == "events"):
        return None
    first = call.args[0]
    if isinstance(first, ast.Attribute) and ast.unparse(first.value) == "events":
        event = getattr(events, first.attr)
        assert isinstance(event, events.Event), ast.unparse(first)
        return event
    return None


def literal_matches(spec: type | tuple[str, ...], node: ast.expr) -> bool:
    """Whether a literal argument may be the field's value; anything computed is checked by the flows."""
    if not isinstance(node, ast.Constant):
        return True
    if isinstance(spec, tuple):
        return node.value in spec
    return type(node.value) is spec


# -- the registry itself ---------------------------------------------------------------------------------------------


def test_every_event_is_well_formed() -> None:
    assert len(events.EVENTS) == len({event.name for event in events.EVENTS.values()})
    for name, event in events.EVENTS.items():
        assert event.name == name
        assert re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", name), name
        assert event.level in LEVELS and event.repeat_level in {None, *LEVELS}, name
        assert event.repeat_level is None or event.repeat_level < event.level, name
        assert event.meaning.endswith(".") and "\n" not in event.meaning, name
        for field, spec in event.fields.items():
            assert field not in RECORD_ATTRIBUTES and field != "event", (name, field)
            assert field in events.FIELDS, (name, field)
            assert spec in (int, float, bool, str) or (
                isinstance(spec, tuple) and spec and all(re.fullmatch(r"[a-z_]+", value) for value in spec)
            ), (name, field, spec)


def test_every_documented_field_is_some_event_s() -> None:
    used = {field for event in events.EVENTS.values() for field in event.fields}
    assert used == set(events.FIELDS)


def test_a_field_name_that_a_log_record_has_is_refused() -> None:
    with pytest.raises(ValueError, match="'message' is not a documented, free field name"):
        events._event("test.bad", logging.INFO, "Bad.", {"message": str})
    assert "test.bad" not in events.EVENTS


# -- the code: every record is an event, emitted with exactly its fields ---------------------------------------------


#: Ways to write to a log or the console other than the logger.
OTHER_OUTPUT = {"getLogger", "logging.getLogger", "warnings.warn", "warn", "print", "traceback.print_exc",
                "traceback.print_exception", "sys.stderr.write", "sys.stdout.write"}  # fmt: skip


def test_nothing_logs_but_through_the_events() -> None:
    """No module but events.py calls the logger, makes one, warns or prints: every record goes through emit().

    The gateway's command line prints its own errors and ``--check-config``, and nothing else does.
    """
    found = []
    for path, call in calls():
        func = call.func
        if path.name == "events.py":
            continue
        where = f"{path.relative_to(PACKAGE)}:{call.lineno}"
        if isinstance(func, ast.Attribute) and func.attr in LOG_METHODS and "log" in ast.unparse(func.value).lower():
            found.append(where)
        if ast.unparse(func) in OTHER_OUTPUT and not (path.name == "gateway.py" and ast.unparse(func) == "print"):
            found.append(where)
    assert found == []


def test_each_emit_passes_exactly_the_event_s_fields() -> None:
    problems = []
    for path, call in calls():
        event = emitted_event(call)
        if event is None:
            continue
        where = f"{path.relative_to(PACKAGE)}:{call.lineno} {event.name}"
        given = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg not in {"exc_info", "quiet"}}
        if set(given) != set(event.fields):
            problems.append(f"{where}: fields {sorted(map(str, given))}, documented {sorted(event.fields)}")
            continue
        problems += [
            f"{where}: {name}={ast.unparse(node)}"
            for name, node in given.items()
            if not literal_matches(event.fields[str(name)], node)
        ]
        if any(keyword.arg == "quiet" for keyword in call.keywords) and event.repeat_level is None:
            problems.append(f"{where}: quiet, with no repeat level")
    assert problems == []


def test_the_helpers_pass_documented_values() -> None:
    problems = []
    for path, call in calls():
        name = callee(call)
        if name not in HELPERS:
            continue
        event, arguments = HELPERS[name]
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        for where, field in arguments.items():
            node = call.args[where] if isinstance(where, int) and where < len(call.args) else keywords.get(str(where))
            if node is None:
                continue  # a definition's own call, or a default
            if not literal_matches(event.fields[field], node):
                problems.append(f"{path.relative_to(PACKAGE)}:{call.lineno} {name}: {field}={ast.unparse(node)}")
    assert problems == []


def test_every_registered_event_is_emitted_somewhere() -> None:
    emitted = {event.name for _, call in calls() if (event := emitted_event(call)) is not None}
    emitted |= {event.name for event, _ in HELPERS.values()}
    emitted.add(events.EVENTS_LISTENER_FAILED.name)  # by emit() itself, for a listener that raised
    assert sorted(set(events.EVENTS) - emitted) == []


def test_every_fixed_value_is_given_as_its_field() -> None:
    """Every fixed value an event documents is passed as that field somewhere: none is stale.

    "Passed as the field" is a string written in a keyword argument of the field's name (of ``emit``, of an
    error, of a helper), in an assignment to a variable of that name, in what a function named after the field
    returns, or as a helper's argument for it.  The token types are the table of the token cookies.
    """
    field_names = set(events.FIELDS)
    given: set[tuple[str, str]] = set()

    def strings(node: ast.AST) -> set[str]:
        return {sub.value for sub in ast.walk(node) if isinstance(sub, ast.Constant) and isinstance(sub.value, str)}

    for path, tree in sources():
        if path.name in {"events.py", "metrics.py"}:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg in field_names:
                given |= {(node.arg, value) for value in strings(node.value)}
            elif isinstance(node, ast.Assign):
                names = {target.id for target in node.targets if isinstance(target, ast.Name)} & field_names
                given |= {(name, value) for name in names for value in strings(node.value)}
            elif isinstance(node, ast.FunctionDef):
                for field in {field for field in field_names if field in node.name}:
                    returned = (sub.value for sub in ast.walk(node) if isinstance(sub, ast.Return) and sub.value)
                    given |= {(field, value) for expression in returned for value in strings(expression)}
            elif isinstance(node, ast.Call) and callee(node) in HELPERS:
                _, arguments = HELPERS[str(callee(node))]
                for where, field in arguments.items():
                    if isinstance(where, int) and where < len(node.args):
                        given |= {(field, value) for value in strings(node.args[where])}
    both = LogoutConfig(
        issuer="https://op.example", client_id="rp", refresh_token_cookie="rt", access_token_cookie="at"
    )
    given |= {("token_type", hint) for _, hint in token_cookies(both)}
    missing = sorted(
        f"{event.name} {field}={value}"
        for event in events.EVENTS.values()
        for field, spec in event.fields.items()
        if isinstance(spec, tuple)
        for value in spec
        if (field, value) not in given
    )
    assert missing == []


# -- the documentation: the tables are the registry ------------------------------------------------------------------


def table_rows(page: str, header: str) -> list[list[str]]:
    """The cells of the markdown table whose header row starts with *header*."""
    lines = page.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


def parse_fields(cell: str) -> dict[str, str]:
    """```reason` (`a`, `b`); `count` (int)`` as {"reason": "`a`, `b`", "count": "int"}."""
    if cell == "none":
        return {}
    fields = {}
    for part in cell.split("; "):
        match = re.fullmatch(r"`([a-z_]+)` \((.+)\)", part)
        assert match, part
        fields[match.group(1)] = match.group(2)
    return fields


def test_the_events_table_is_the_registry() -> None:
    page = (DOCS / "events.md").read_text()
    rows = table_rows(page, "| Event | Level | Fields | Meaning |")
    documented = {}
    for name, level, fields, meaning in rows:
        assert name.startswith("`") and name.endswith("`"), name
        documented[name.strip("`")] = (level, parse_fields(fields), meaning)
    registry = {
        event.name: (
            level_text(event),
            {field: values_text(spec) for field, spec in event.fields.items()},
            event.meaning,
        )
        for event in events.EVENTS.values()
    }
    assert list(documented) == list(registry), "run: python -m tests.support.events_doc, and paste the tables"
    assert documented == registry


def test_the_fields_table_is_the_registry() -> None:
    rows = table_rows((DOCS / "events.md").read_text(), "| Field | What it holds |")
    assert {name.strip("`"): meaning for name, meaning in rows} == events.FIELDS


# -- listeners ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def quiet_logger() -> Iterator[list[logging.LogRecord]]:
    """The package's logger set to CRITICAL, and what it records."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("logout_middleware")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.CRITICAL)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_listeners_are_told_whatever_the_level(quiet_logger: list[logging.LogRecord]) -> None:
    told: list[tuple[str, dict[str, object]]] = []

    def listener(name: str, fields: Mapping[str, object]) -> None:
        told.append((name, dict(fields)))

    events.add_listener(listener)
    try:
        events.emit(events.BACKCHANNEL_REFUSED, "refused: %s", "why", reason="signature")
    finally:
        events.remove_listener(listener)
    events.emit(events.BACKCHANNEL_REFUSED, "refused: %s", "why", reason="signature")
    assert told == [("backchannel.refused", {"reason": "signature"})]
    assert quiet_logger == []  # below the logger's level: no record at all


def test_a_listener_that_raises_is_logged_and_the_others_are_told(caplog: pytest.LogCaptureFixture) -> None:
    told: list[str] = []

    def broken(name: str, fields: Mapping[str, object]) -> None:
        raise KeyError(name)

    def working(name: str, fields: Mapping[str, object]) -> None:
        told.append(name)

    events.add_listener(broken)
    events.add_listener(working)
    try:
        with caplog.at_level(logging.INFO, logger="logout_middleware"):
            events.emit(events.LOGOUT_LOCAL, "logout: %d cookie(s) deleted", 1, cookies_deleted=1)
    finally:
        events.remove_listener(broken)
        events.remove_listener(working)
    events.remove_listener(working)  # removing one that is gone does nothing
    assert told == ["logout.local"]
    failed, logged = caplog.records
    assert (failed.event, failed.error_type, failed.levelname) == ("events.listener_failed", "KeyError", "ERROR")  # type: ignore[attr-defined]
    assert (
        failed.exc_info is not None and failed.getMessage() == "an event listener raised KeyError; the others were told"
    )
    assert (logged.event, logged.cookies_deleted) == ("logout.local", 1)  # type: ignore[attr-defined]


def test_a_record_names_the_line_that_emitted_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="logout_middleware"):
        events.emit(events.LOGOUT_LOCAL, "logout: %d cookie(s) deleted", 0, cookies_deleted=0)
    [record] = caplog.records
    assert (record.filename, record.funcName) == ("test_events.py", "test_a_record_names_the_line_that_emitted_it")


# -- the JSON recipe of docs/events.md, run as it is written -----------------------------------------------------------


def code_blocks(page: str, heading: str, language: str) -> list[str]:
    section = page.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


def test_the_json_logging_recipe_writes_what_the_page_shows() -> None:
    page = (DOCS / "events.md").read_text()
    recipe, *_ = code_blocks(page, "Recipe: JSON logs with the standard library", "python")
    [shown] = code_blocks(page, "Recipe: JSON logs with the standard library", "json")
    logger = logging.getLogger("logout_middleware")
    level, propagate = logger.level, logger.propagate
    namespace: dict[str, Any] = {}
    exec(recipe, namespace)  # noqa: S102 - the page's own code
    handler: logging.StreamHandler[Any] = namespace["handler"]
    output = io.StringIO()
    handler.setStream(output)
    try:
        send = middleware_sender("wsgi", end_session_endpoint="https://op.example/end", clear_cookies=["session"])
        send("GET", "/logout", {"Cookie": f"id_token={ID_TOKEN}"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
    [line] = output.getvalue().splitlines()
    written, expected = json.loads(line), json.loads(shown)
    assert written.pop("time") and expected.pop("time")
    assert written == expected
