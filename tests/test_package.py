"""The package as installed: no framework at import, typed, errors named as documented."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import logout_middleware


def test_core_imports_no_framework() -> None:
    code = (
        "import sys, logout_middleware\n"
        "logout_middleware.build_logout_url('https://op.example/end', client_id='c')\n"
        "print(sorted(m for m in ('starlette', 'webob', 'httpx', 'anyio', 'joserfc', 'redis', 'flask', 'django',"
        " 'itsdangerous') if m in sys.modules))"
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


def test_every_option_is_in_the_readme_table() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme[readme.index("## Options") :]
    table = table[: table.index("\n## ")]
    documented = re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)
    assert documented == [field.name for field in dataclasses.fields(logout_middleware.LogoutConfig)]
