"""The package as installed: no framework at import, typed, errors named as documented."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import logout_middleware
from tests.support import options_doc


def test_core_imports_no_framework() -> None:
    code = (
        "import sys, logout_middleware\n"
        "logout_middleware.build_logout_url('https://op.example/end', client_id='c')\n"
        "print(sorted(m for m in ('starlette', 'webob', 'httpx', 'anyio', 'joserfc', 'redis', 'flask', 'django',"
        " 'itsdangerous', 'prometheus_client') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_typed_marker_ships() -> None:
    assert (Path(logout_middleware.__file__).parent / "py.typed").is_file()


def test_public_names() -> None:
    assert set(logout_middleware.__all__) == {
        "ConfigError",
        "CookieSpec",
        "InvalidParameterError",
        "InvalidTokenError",
        "InvalidURLError",
        "LogoutConfig",
        "LogoutError",
        "LogoutHandler",
        "Reply",
        "build_logout_url",
    }
    for name in ("ConfigError", "InvalidParameterError", "InvalidTokenError", "InvalidURLError"):
        error = getattr(logout_middleware, name)
        assert issubclass(error, logout_middleware.LogoutError) and issubclass(error, ValueError)
        assert error.__doc__


def test_the_options_page_is_made_from_the_config_comments() -> None:
    """docs/options.md is what the comments above LogoutConfig's fields say, with each default: one source."""
    page = (Path(__file__).parent.parent / "docs" / "options.md").read_text()
    assert page == options_doc.render(), "run: python -m tests.support.options_doc > docs/options.md"
    described = options_doc.option_comments()
    assert [name for _, name, _ in described] == [
        field.name for field in dataclasses.fields(logout_middleware.LogoutConfig)
    ]
    assert all(len(comment) > 20 for _, _, comment in described), "every option says what it does"
