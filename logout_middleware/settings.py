"""Build a :class:`~logout_middleware.LogoutConfig` from a TOML file and environment variables.

Every option of :class:`~logout_middleware.LogoutConfig` can be given in
either place, under its own name in the file and upper-cased behind
``LOGOUT_MIDDLEWARE_`` in the environment (``issuer`` is
``LOGOUT_MIDDLEWARE_ISSUER``).  Nothing here lists the options: they are read
from the dataclass and converted by their type annotations, so an option added
to the config is settable at once.  The environment wins over the file, option
by option.

* text: the value as is; in TOML a string;
* whole numbers and numbers: ``600``, ``2.5``; in TOML an integer or a float;
* true or false: ``true``, ``false``, ``1``, ``0``, ``yes``, ``no``; in TOML ``true`` or ``false``;
* lists: ``GET,POST``; in TOML ``["GET", "POST"]``;
* cookies (``clear_cookies``): ``session,sso:/:example.com``; in TOML
  ``["session", {name = "sso", domain = "example.com"}]``;
* name/value pairs (``extra_params``): ``prompt=login,tenant=acme``; in TOML
  ``{prompt = "login", tenant = "acme"}``;
* options that may be unset (``str | None``): an empty value unsets them,
  in the environment and in TOML (``cookie_domain = ""``).

A cookie in the environment is ``name`` or ``name:path:domain``, where an
empty path or domain means the config's ``cookie_path``/``cookie_domain``.
Commas separate list items, so a value holding a comma can only be given in
the file.

.. warning:: Unknown ``LOGOUT_MIDDLEWARE_*`` variables and unknown keys of
   the file are errors, so that a misspelt option fails at start-up instead
   of leaving a default (such as no ``cookie_domain``) silently in force.
   ``client_secret`` and passwords in URLs are never repeated in messages,
   and :func:`render_config` masks them.

Every error is a :class:`~logout_middleware.ConfigError` that names the
variable or the file and key it comes from.

.. code-block:: python

    from logout_middleware.settings import load_config
    from logout_middleware.wsgi import LogoutMiddleware

    app = LogoutMiddleware(app, load_config("logout.toml"))  # plus LOGOUT_MIDDLEWARE_* overrides
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import functools
import json
import os
import re
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, Union

from .config import _SECRETS, LogoutConfig, mask_url_password
from .errors import ConfigError
from .web.cookies import CookieSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["ENV_PREFIX", "env_name", "load_config", "read_environ", "read_toml", "render_config"]

#: The start of every environment variable read here.
ENV_PREFIX = "LOGOUT_MIDDLEWARE_"

_NONE = type(None)
_UNIONS = (Union, types.UnionType)
_SEQUENCES = (tuple, list, collections.abc.Sequence)
_MAPPINGS = (dict, collections.abc.Mapping)
_TRUE = frozenset(("true", "1", "yes"))
_FALSE = frozenset(("false", "0", "no"))
_MASK = "***"


class _Invalid(Exception):
    """A value that cannot be converted; the message says why, the caller adds where it came from."""


def env_name(option: str) -> str:
    """The environment variable of *option*: ``cookie_domain`` is ``LOGOUT_MIDDLEWARE_COOKIE_DOMAIN``."""
    return ENV_PREFIX + option.upper()


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> LogoutConfig:
    """Build the config from the TOML file at *path* (if given) and the environment, which wins.

    :param path: a TOML file whose top-level keys are option names.
    :param environ: the variables to read; :data:`os.environ` when None.
    :raises ConfigError: a file that cannot be read or parsed, an unknown
        key or variable, a value of the wrong type, or an option the config
        refuses; the message names the variable or the file and key.
    """
    found = _toml_options(path) if path is not None else {}
    found.update(_environ_options(os.environ if environ is None else environ))
    try:
        return LogoutConfig(**{name: value for name, (value, _) in found.items()})
    except ConfigError as exc:
        raise ConfigError(_locate(str(exc), {name: where for name, (_, where) in found.items()})) from None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The options set in the TOML file at *path*, converted to the config's types but not yet checked together."""
    return {name: value for name, (value, _) in _toml_options(path).items()}


def read_environ(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The options set by ``LOGOUT_MIDDLEWARE_*`` variables of *environ* (default :data:`os.environ`), converted."""
    options = _environ_options(os.environ if environ is None else environ)
    return {name: value for name, (value, _) in options.items()}


def render_config(config: LogoutConfig, *, style: Literal["toml", "env"] = "toml") -> str:
    """Show every option of *config*, with ``client_secret`` and passwords in URLs as ``***``.

    ``style="toml"`` gives a file :func:`load_config` reads back, each option
    left at its default marked so; ``style="env"`` gives ``NAME=value`` lines
    for an environment file.  A value that has no text form (a store object
    passed in code) is shown as a comment.
    """
    lines = []
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name in _SECRETS and value:
            value = _MASK
        elif isinstance(value, str):
            value = mask_url_password(value)
        try:
            text = _as_toml(value) if style == "toml" else _as_env_text(value)
        except _Invalid as exc:
            lines.append(f"# {field.name}: {exc}")
            continue
        if style == "env":
            lines.append(f"{env_name(field.name)}={text}")
        elif value is None:
            lines.append(f"{field.name} = {text}  # not set")
        else:
            lines.append(f"{field.name} = {text}{'  # default' if value == _default(field) else ''}")
    return "\n".join(lines) + "\n"


# -- reading -------------------------------------------------------------------------


def _toml_options(path: str | os.PathLike[str]) -> dict[str, tuple[Any, str]]:
    shown = os.fspath(path)
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {shown}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown} is not valid TOML: {exc}") from None
    hints = _option_types(LogoutConfig)
    options = {}
    for key, value in document.items():
        where = f"{shown}: key {key!r}"
        if key not in hints:
            raise ConfigError(f"{where} is not an option{_suggestion(key, hints)}")
        options[key] = (_convert_or_raise(value, hints[key], where, key, from_env=False), where)
    return options


def _environ_options(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    hints = _option_types(LogoutConfig)
    known = {env_name(name): name for name in hints}
    options = {}
    # Sorted, so that of several mistakes the same one is reported every time.
    for variable in sorted(environ):
        if not variable.upper().startswith(ENV_PREFIX):
            continue
        name = known.get(variable)
        if name is None:
            raise ConfigError(f"unknown environment variable {variable}{_suggestion(variable.upper(), known)}")
        options[name] = (_convert_or_raise(environ[variable], hints[name], variable, name, from_env=True), variable)
    return options


@functools.cache
def _option_types(config_class: type[LogoutConfig]) -> dict[str, Any]:
    """Each option's type, from the annotations (strings, under ``from __future__ import annotations``)."""
    try:
        hints = typing.get_type_hints(config_class)
    except NameError as exc:  # an annotation names a type imported for type checking only
        raise ConfigError(f"the types of the config's options cannot be read: {exc}") from None
    return {field.name: hints[field.name] for field in dataclasses.fields(config_class)}


def _convert_or_raise(value: object, hint: Any, where: str, option: str, *, from_env: bool) -> Any:
    try:
        return _convert(value, hint, from_env=from_env)
    except _Invalid as exc:
        shown = _MASK if option in _SECRETS else _shorten(mask_url_password(value) if isinstance(value, str) else value)
        raise ConfigError(f"{where}: {exc}, got {shown}") from None
    except ConfigError as exc:  # raised by CookieSpec for a bad name, path or domain
        raise ConfigError(f"{where}: {exc}") from None


def _convert(value: object, hint: Any, *, from_env: bool) -> Any:
    """Turn an environment string or a TOML value into a value of the annotated type."""
    if hint is Any or hint is object:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in _UNIONS:
        return _convert_union(value, args, from_env=from_env)
    if origin is Literal:
        return _convert_literal(value, args)
    if origin in _MAPPINGS:
        return dict(_convert_pairs(value, from_env=from_env))
    if origin in _SEQUENCES:
        if len(args) == 2 and args[1] is Ellipsis:
            return _convert_sequence(value, args[0], from_env=from_env)
        if len(args) == 1 and origin is not tuple:  # Sequence[str]
            return _convert_sequence(value, args[0], from_env=from_env)
        raise _Invalid(f"options of type {_type_name(hint)} cannot be set from a file or the environment")
    if hint is CookieSpec:
        return _convert_cookie(value, from_env=from_env)
    if hint in (str, bool, int, float):
        return _convert_scalar(value, hint, from_env=from_env)
    raise _Invalid(f"options of type {_type_name(hint)} cannot be set from a file or the environment")


def _convert_scalar(value: object, hint: type, *, from_env: bool) -> object:
    if hint is str:
        if not isinstance(value, str):
            raise _Invalid("expected a string")
        return value
    if from_env:
        if not isinstance(value, str):  # pragma: no cover - the environment holds strings only
            raise _Invalid("expected text")
        return _parse_scalar(value.strip(), hint)
    # TOML has its own booleans and numbers; a quoted "true" or "600" is a mistake worth reporting.
    if hint is bool:
        if not isinstance(value, bool):
            raise _Invalid("expected true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int if hint is int else (int, float)):
        raise _Invalid("expected a whole number" if hint is int else "expected a number")
    return hint(value)


def _parse_scalar(text: str, hint: type) -> object:
    if hint is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise _Invalid("expected true or false (also 1, 0, yes, no)")
    try:
        return int(text) if hint is int else float(text)
    except ValueError:
        raise _Invalid("expected a whole number" if hint is int else "expected a number") from None


def _convert_union(value: object, args: tuple[Any, ...], *, from_env: bool) -> Any:
    members = [arg for arg in args if arg is not _NONE]
    if len(members) < len(args) and value == "":
        return None
    if len(members) == 1:
        return _convert(value, members[0], from_env=from_env)
    # str accepts any text, so it is tried last: "sso:/:example.com" is a CookieSpec, "sso" a name.
    ordered = sorted(members, key=lambda member: member is str)
    problems = []
    for member in ordered:
        try:
            return _convert(value, member, from_env=from_env)
        except _Invalid as exc:
            problems.append(str(exc))
    raise _Invalid(" or ".join(dict.fromkeys(problems)))


def _convert_literal(value: object, choices: tuple[Any, ...]) -> object:
    if isinstance(value, str):
        # SameSite=lax and the like: accept any case, store the spelling the config expects.
        for choice in choices:
            if isinstance(choice, str) and choice.lower() == value.strip().lower():
                return choice
    raise _Invalid("expected one of " + ", ".join(repr(choice) for choice in choices))


def _convert_sequence(value: object, item: Any, *, from_env: bool) -> tuple[Any, ...]:
    if typing.get_origin(item) is tuple and len(typing.get_args(item)) == 2:
        return tuple(_convert_pairs(value, from_env=from_env))
    if from_env:
        if not isinstance(value, str):  # pragma: no cover - the environment holds strings only
            raise _Invalid("expected text")
        items: list[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise _Invalid("expected a list")
    converted = []
    for index, element in enumerate(items):
        try:
            converted.append(_convert(element, item, from_env=from_env))
        except _Invalid as exc:
            raise _Invalid(f"item {index + 1} ({_shorten(element)}): {exc}") from None
    return tuple(converted)


def _convert_pairs(value: object, *, from_env: bool) -> list[tuple[str, str]]:
    if from_env and isinstance(value, str):
        pairs = []
        for part in filter(None, (part.strip() for part in value.split(","))):
            name, equals, text = part.partition("=")
            if not equals or not name.strip():
                raise _Invalid(f"expected name=value pairs separated by commas, and {part!r} is not one")
            pairs.append((name.strip(), text.strip()))
        return pairs
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list) and all(isinstance(pair, list) and len(pair) == 2 for pair in value):
        items = [(pair[0], pair[1]) for pair in value]  # [["name", "value"], ...] keeps repeated names
    else:
        raise _Invalid('expected a table such as {name = "value"}')
    for name, text in items:
        if not isinstance(name, str) or not isinstance(text, str):
            raise _Invalid(f"expected string values, and {name!r} is not one")
    return items


def _convert_cookie(value: object, *, from_env: bool) -> CookieSpec:
    if from_env and isinstance(value, str):
        if ":" not in value:
            raise _Invalid("expected name:path:domain")
        # Names and domains hold no ':', a path may: it is whatever lies between.
        name, _, rest = value.partition(":")
        path, colon, domain = rest.rpartition(":")
        if not colon:
            # A ConfigError, not _Invalid: with a ':' it is no cookie name either, so no other reading is tried.
            raise ConfigError(f"{value!r} is not name:path:domain (leave path or domain empty for the defaults)")
        return CookieSpec(name, path=path or None, domain=domain or None)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"name", "path", "domain"})
        if unknown or not isinstance(value.get("name"), str):
            raise _Invalid('expected a table {name = "...", path = "...", domain = "..."}')
        parts = {key: value.get(key) for key in ("path", "domain")}
        if any(part is not None and not isinstance(part, str) for part in parts.values()):
            raise _Invalid("expected path and domain as strings")
        return CookieSpec(value["name"], path=parts["path"] or None, domain=parts["domain"] or None)
    raise _Invalid('expected a cookie name or a table {name = "...", path = "...", domain = "..."}')


def _locate(message: str, origins: Mapping[str, str]) -> str:
    """Put the variable or key in front of a config error about an option that was set there."""
    mentioned = [
        (match.start(), name)
        for name in _option_types(LogoutConfig)
        if (match := re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message))
    ]
    if mentioned:
        _, first = min(mentioned)
        if first in origins:
            return f"{origins[first]}: {message}"
    return message


def _suggestion(name: str, candidates: collections.abc.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f"; did you mean {close[0]}?" if close else ""


# -- writing -------------------------------------------------------------------------


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING  # pragma: no cover - every option has a default


def _as_toml(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # also for inf and nan, which TOML spells the same way
    if isinstance(value, str):
        # A JSON string is a TOML basic string, once DEL (which JSON leaves bare) is escaped too.
        return json.dumps(value).replace("\x7f", "\\u007f")
    if isinstance(value, CookieSpec):
        parts = {"name": value.name, "path": value.path, "domain": value.domain}
        return "{" + ", ".join(f"{key} = {_as_toml(text)}" for key, text in parts.items() if text is not None) + "}"
    if isinstance(value, Mapping):
        value = tuple(value.items())
    if isinstance(value, tuple):
        if value and all(isinstance(item, tuple) for item in value):
            return "{" + ", ".join(f"{_as_toml(str(name))} = {_as_toml(text)}" for name, text in value) + "}"
        return "[" + ", ".join(_as_toml(item) for item in value) + "]"
    raise _Invalid(f"a {type(value).__name__} object, which has no text form")


def _as_env_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, CookieSpec):
        return f"{value.name}:{value.path or ''}:{value.domain or ''}"
    if isinstance(value, Mapping):
        value = tuple(value.items())
    if isinstance(value, tuple):
        if value and all(isinstance(item, tuple) for item in value):
            items = [f"{name}={text}" for name, text in value]
        else:
            items = [_as_env_text(item) for item in value]
        if any("," in item or not item.strip() for item in items):
            raise _Invalid("holds a comma or an empty item, so it can only be written in the TOML file")
        return ",".join(items)
    raise _Invalid(f"a {type(value).__name__} object, which has no text form")


def _shorten(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _type_name(hint: Any) -> str:
    return str(hint) if typing.get_args(hint) else getattr(hint, "__name__", str(hint))
