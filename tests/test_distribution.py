"""The package as users get it from PyPI: the sdist and the wheel, built, checked, installed and used.

An editable install hides a file missing from the distribution, so nothing
here imports the working tree: every check reads the built files, or runs in
a new virtual environment into which pip installed only the wheel (and, for
the examples, the frameworks they use).  Read top to bottom, this is what
``pip install "logout-middleware[extra]"`` gives, and what a packager finds
in the sdist.
"""

from __future__ import annotations

import concurrent.futures
import configparser
import email.message
import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from trove_classifiers import classifiers as known_classifiers

from tests.support.servers import HOST, REPO_ROOT, free_port, serve_process

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytestmark = pytest.mark.distribution

PACKAGE = "logout_middleware"
DIST_NAME = "logout-middleware"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT: dict[str, Any] = PYPROJECT["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

# Any fixed time will do: hatchling stamps it on every file, so two builds of the same sources are equal byte for byte.
SOURCE_DATE_EPOCH = "1796083200"  # 2026-12-01, the date of 0.1.0

# Files the sdist carries at its top, beside the directories below.
SDIST_FILES = ("LICENSE", "README.md", "CHANGELOG.md", "SECURITY.md", "pyproject.toml")
# The package, its tests (a packager runs them), what the tests run, and the documents.
SDIST_DIRS = (PACKAGE, "tests", "examples", "benchmarks", "docs")
# Named on their own so that the failure says which, should the walk below ever miss them.
SDIST_MUST_HAVE = (
    "PKG-INFO",
    "tests/test_examples.py",
    "examples/provider/package.json",  # the demo and the end-to-end tests install the provider from these
    "examples/provider/package-lock.json",
    "docs/versioning.md",
)
# What a build must never pick up from a developer's tree.
JUNK_DIRS = frozenset({"__pycache__", "node_modules", ".venv", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"})
JUNK_SUFFIXES = (".pyc", ".pyo", ".tmp")
JUNK_FILES = frozenset({".coverage"})

# The modules that import more than the core at the top: by the extra that brings it,
NEEDS_EXTRA = {
    f"{PACKAGE}.wsgi": "wsgi",
    f"{PACKAGE}.asgi": "asgi",
    f"{PACKAGE}.stores.redis": "redis",
    f"{PACKAGE}.metrics": "metrics",
}
# or by the framework they plug into, which the app already has and no extra installs.
NEEDS_FRAMEWORK = {f"{PACKAGE}.flask": "flask", f"{PACKAGE}.django": "django"}
# What each extra lets a user import: our modules that need it, and what our modules import
# lazily inside the functions that use it (so only a real call, or this list, finds it missing).
PROMISES: dict[str, list[str]] = {
    "wsgi": [f"{PACKAGE}.wsgi", "webob"],
    "asgi": [f"{PACKAGE}.asgi", "anyio"],  # anyio: the ASGI side runs store writes in a worker thread
    "http": ["httpx"],  # discovery and RFC 7009 revocation
    "backchannel": ["joserfc.jws", "joserfc.jwk", "joserfc.errors", "httpx"],
    "redis": [f"{PACKAGE}.stores.redis"],
    "metrics": [f"{PACKAGE}.metrics", "prometheus_client.parser"],  # the parser: what the tests scrape with
    "gateway": [
        *(f"{PACKAGE}.asgi", f"{PACKAGE}.stores.redis", f"{PACKAGE}.metrics"),
        *("uvicorn", "uvicorn.config", "joserfc.jws", "httpx"),
    ],
    "all": [
        *NEEDS_EXTRA,
        *("webob", "anyio", "httpx", "joserfc.jws", "joserfc.jwk", "joserfc.errors", "redis", "prometheus_client"),
    ],
}
# What tests/test_examples.py and the examples import besides the wheel: servers, frameworks, the test runner.
EXAMPLES_NEED = (
    "gunicorn",
    "uvicorn",
    "authlib",
    "flask",
    "django",
    "mozilla-django-oidc",
    "flask-pyoidc",
    "fastapi",
    "itsdangerous",
    "litestar",
    "pyramid",
    "httpx",
    "pytest",
)

# Bounded waits: pip may fetch from the index, the rest is local.
BUILD_TIMEOUT = 180
INSTALL_TIMEOUT = 600
EXAMPLES_TIMEOUT = 600


# Each fresh virtual environment's python, by extra ("" for none; "examples" for the examples' run), as it gets ready.
Environments = dict[str, concurrent.futures.Future[Path]]


@dataclass(frozen=True)
class Built:
    """The sdist and the wheel, built from the working tree."""

    sdist: Path
    wheel: Path


# --- helpers --------------------------------------------------------------------------------------------------------


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run *argv* and return what it did; callers assert with :func:`output_of` so that a failure shows it."""
    return subprocess.run(
        [os.fspath(part) for part in argv],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=dict(env) if env is not None else None,
    )


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    """The command, its exit status and its output, for an assertion message."""
    return (
        f"$ {' '.join(result.args)}\nexit status {result.returncode}\n"
        f"--- stdout:\n{result.stdout}\n--- stderr:\n{result.stderr}"
    )


def user_env(venv: Path | None = None) -> dict[str, str]:
    """The environment of a user's shell, with *venv* activated: nothing that points at the working tree."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}
        and not key.startswith("COV_CORE_")
    }
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    return env


def is_junk(relative: str) -> bool:
    """Whether a path inside a distribution is build or tool debris that no user should get."""
    parts = relative.split("/")
    return bool(JUNK_DIRS.intersection(parts)) or parts[-1] in JUNK_FILES or parts[-1].endswith(JUNK_SUFFIXES)


def source_files(directory: str) -> set[str]:
    """The files under *directory* of the working tree, as paths relative to the repository, debris left out."""
    root = REPO_ROOT / directory
    found = {path.relative_to(REPO_ROOT).as_posix() for path in root.rglob("*") if path.is_file()}
    return {path for path in found if not is_junk(path)}


def package_modules() -> list[str]:
    """Every module of the package in the source tree, so that a new one is checked without editing this file."""
    names = []
    for path in sorted(source_files(PACKAGE)):
        if not path.endswith(".py"):
            continue
        parts = path.removesuffix(".py").split("/")
        if parts[-1] == "__main__":
            continue  # importing it is not what a user does; `python -m` is tried on its own below
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def source_version() -> str:
    """The version hatchling reads from the package (``[tool.hatch.version]``), without importing it."""
    text = (REPO_ROOT / PYPROJECT["tool"]["hatch"]["version"]["path"]).read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, flags=re.MULTILINE)
    assert match, "no __version__ in the package"
    return match.group(1)


def build(source: Path, outdir: Path, *targets: str) -> None:
    """Build *targets* (``--sdist``, ``--wheel``) of the project at *source* into *outdir*, as a release would."""
    # Without isolation the backend is this environment's hatchling (the "release" dependency group), which
    # `build` still checks against [build-system] requires; an isolated build installs the same hatchling into a
    # new environment every time, about 5 s more per build for nothing more proven.
    result = run(
        [sys.executable, "-m", "build", "--no-isolation", *targets, "--outdir", outdir, source],
        timeout=BUILD_TIMEOUT,
        env={**user_env(), "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH},
    )
    assert result.returncode == 0, output_of(result)


def only(paths: Iterator[Path], what: str) -> Path:
    """The one path of *paths*, or a failure naming *what* was expected."""
    found = list(paths)
    assert len(found) == 1, f"expected one {what}, found {found}"
    return found[0]


def wheel_contents(wheel: Path) -> dict[str, bytes]:
    """Every file of *wheel*, by name."""
    with zipfile.ZipFile(wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}


def sdist_names(sdist: Path) -> set[str]:
    """The files of *sdist*, relative to its top directory."""
    with tarfile.open(sdist) as archive:
        members = [member for member in archive.getmembers() if member.isfile()]
    top = {member.name.split("/", 1)[0] for member in members}
    assert top == {f"{PACKAGE}-{source_version()}"}, f"the sdist should have one top directory, has {sorted(top)}"
    return {member.name.split("/", 1)[1] for member in members}


def wheel_metadata(wheel: Path) -> email.message.Message:
    """The wheel's ``METADATA``: what PyPI shows and pip reads."""
    contents = wheel_contents(wheel)
    raw = contents[f"{PACKAGE}-{source_version()}.dist-info/METADATA"]
    return email.parser.Parser().parsestr(raw.decode("utf-8"))  # UTF-8, as the core metadata spec says


def requirement_from_test_group(name: str) -> str:
    """*name* with the version bounds the dev environment installs it with, so that both agree."""
    for requirement in PYPROJECT["dependency-groups"]["test"]:
        if isinstance(requirement, str) and re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower() == name:
            return requirement
    raise AssertionError(f"{name} is not in the test dependency group of pyproject.toml")


def make_environment(venv: Path, requirements: Sequence[str]) -> Path:
    """Create a virtual environment at *venv*, install *requirements* into it with pip, and return its python."""
    result = run([sys.executable, "-m", "venv", "--without-pip", venv], timeout=120)
    assert result.returncode == 0, output_of(result)
    python = venv / "bin" / "python"
    # This environment's pip installs into the new one (--python): bootstrapping pip into each environment would
    # cost seconds and prove nothing about our package.  --no-compile: nobody imports most of what gets installed.
    result = run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-compile", "--quiet", *requirements],
        timeout=INSTALL_TIMEOUT,
        env=user_env(),
    )
    assert result.returncode == 0, f"pip could not install {' '.join(requirements)}:\n{output_of(result)}"
    return python


def import_in(
    python: Path, modules: Sequence[str], *, cwd: Path | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Import *modules* with *python*; return the file each came from, and the error of each that did not import."""
    code = (
        "import importlib, json, sys\n"
        "files, errors = {}, {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        files[name] = str(importlib.import_module(name).__file__)\n"
        "    except Exception as exc:\n"
        "        errors[name] = f'{type(exc).__name__}: {exc}'\n"
        "print(json.dumps([files, errors]))\n"
    )
    # -I (isolated) unless a directory is given: then that directory is first on sys.path, as it is for pytest there.
    flags = ["-c"] if cwd is not None else ["-I", "-c"]
    result = run([python, *flags, code, *modules], timeout=120, cwd=cwd, env=user_env(python.parent.parent))
    assert result.returncode == 0, output_of(result)
    files, errors = json.loads(result.stdout)
    return files, errors


def imported_from_outside(files: Mapping[str, str], venv: Path) -> dict[str, str]:
    """The modules of our package in *files* that came from anywhere but *venv*."""
    inside = venv.resolve()
    return {
        name: where
        for name, where in files.items()
        if name.split(".")[0] == PACKAGE and not Path(where).resolve().is_relative_to(inside)
    }


# --- fixtures -------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist and the wheel, both built from the working tree as `python -m build` makes them for a release."""
    outdir = tmp_path_factory.mktemp("dist")
    # Both flags at once: both are built from the tree, so that the wheel rebuilt from the sdist below is compared
    # with one that did not come from the sdist.
    build(REPO_ROOT, outdir, "--sdist", "--wheel")
    version = source_version()
    return Built(
        sdist=only(outdir.glob(f"{PACKAGE}-{version}.tar.gz"), "sdist"),
        wheel=only(outdir.glob(f"{PACKAGE}-{version}-py3-none-any.whl"), "pure-Python wheel"),
    )


@pytest.fixture(scope="module")
def unpacked_sdist(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist unpacked, as a packager or pip gets it; returns its top directory."""
    target = tmp_path_factory.mktemp("sdist")
    with tarfile.open(built.sdist) as archive:
        if hasattr(tarfile, "data_filter"):
            archive.extractall(target, filter="data")
        else:  # Python 3.10 before 3.10.12; the archive is our own
            archive.extractall(target)  # noqa: S202
    return only(target.iterdir(), "top directory in the sdist")


@pytest.fixture(scope="module")
def environments(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environments]:
    """A fresh virtual environment per extra ("" for none) and one for the examples, installed side by side."""
    root = tmp_path_factory.mktemp("venvs")
    wanted = {
        # The slowest first, so that it does not hold up the end; then in the order of the tests.
        "examples": [f"{built.wheel}[all]", *map(requirement_from_test_group, EXAMPLES_NEED)],
        "": [str(built.wheel)],
        **{extra: [f"{built.wheel}[{extra}]"] for extra in sorted(EXTRAS)},
    }
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(make_environment, root / (name or "no-extra"), requirements)
            for name, requirements in wanted.items()
        }
        yield futures
        for future in futures.values():
            future.cancel()


# --- the distributions ----------------------------------------------------------------------------------------------


def test_twine_check_strict_passes(built: Built) -> None:
    # What PyPI would refuse or render badly: metadata fields, and the README as the long description.
    result = run([sys.executable, "-m", "twine", "check", "--strict", built.sdist, built.wheel], timeout=120)
    assert result.returncode == 0, output_of(result)
    assert result.stdout.count("PASSED") == 2, output_of(result)


def test_the_wheel_holds_the_package_and_nothing_else(built: Built) -> None:
    contents = wheel_contents(built.wheel)
    dist_info = f"{PACKAGE}-{source_version()}.dist-info"
    # Every file of the source package, found in the tree so that a new module is checked too (py.typed among them:
    # without it, type checkers ignore our annotations), and the metadata with the license text.
    expected = (
        source_files(PACKAGE)
        | {f"{PACKAGE}/py.typed"}
        | {f"{dist_info}/{name}" for name in ("METADATA", "WHEEL", "RECORD", "entry_points.txt", "licenses/LICENSE")}
    )
    problems = []
    if missing := sorted(expected - set(contents)):
        problems.append(f"the wheel lacks {missing}")
    if strays := sorted(name for name in contents if name.split("/")[0] not in {PACKAGE, dist_info}):
        problems.append(f"the wheel would install these beside the package: {strays}")
    if junk := sorted(name for name in contents if is_junk(name)):
        problems.append(f"the wheel carries debris: {junk}")
    if unexpected := sorted(set(contents) - expected - set(strays) - set(junk)):
        problems.append(f"the wheel has files that are not in the source package: {unexpected}")
    if contents.get(f"{dist_info}/licenses/LICENSE") != (REPO_ROOT / "LICENSE").read_bytes():
        problems.append("the wheel's license file is not LICENSE")
    assert not problems, "\n".join(problems)


def test_the_wheel_metadata_is_what_pypi_shows(built: Built) -> None:
    metadata = wheel_metadata(built.wheel)
    assert metadata["Name"] == DIST_NAME
    assert metadata["Version"] == source_version()
    assert metadata["License-Expression"] == PROJECT["license"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == PROJECT["requires-python"]
    assert set(metadata.get_all("Provides-Extra") or ()) == set(EXTRAS)
    classifiers = metadata.get_all("Classifier") or []
    assert sorted(classifiers) == sorted(PROJECT["classifiers"])
    unknown = sorted(set(classifiers) - known_classifiers)
    assert not unknown, f"PyPI refuses classifiers it does not know: {unknown}"
    assert metadata["Description-Content-Type"] == "text/markdown"
    description = metadata.get_payload()
    assert isinstance(description, str)
    assert description.strip() == (REPO_ROOT / "README.md").read_text(encoding="utf-8").strip(), (
        "the long description is not the README"
    )

    entry_points = configparser.ConfigParser()
    raw = wheel_contents(built.wheel)[f"{PACKAGE}-{source_version()}.dist-info/entry_points.txt"]
    entry_points.read_string(raw.decode("utf-8"))
    assert dict(entry_points["console_scripts"]) == PROJECT["scripts"]


def test_the_sdist_holds_what_a_packager_needs(built: Built) -> None:
    names = sdist_names(built.sdist)
    expected = set(SDIST_FILES) | set(SDIST_MUST_HAVE)
    for directory in SDIST_DIRS:
        expected |= source_files(directory)
    problems = []
    if missing := sorted(expected - names):
        problems.append(f"the sdist lacks {missing}")
    if junk := sorted(name for name in names if is_junk(name)):
        problems.append(f"the sdist carries debris: {junk}")
    assert not problems, "\n".join(problems)


def test_the_wheel_built_from_the_sdist_is_the_same(built: Built, unpacked_sdist: Path, tmp_path: Path) -> None:
    # pip builds from the sdist when no wheel fits, and so do distributions: that must give what we published.
    build(unpacked_sdist, tmp_path, "--wheel")
    again = only(tmp_path.glob("*.whl"), "wheel built from the sdist")
    first, second = wheel_contents(built.wheel), wheel_contents(again)
    assert sorted(first) == sorted(second), (
        f"only in the wheel from the tree: {sorted(set(first) - set(second))}; "
        f"only in the wheel from the sdist: {sorted(set(second) - set(first))}"
    )
    differing = sorted(name for name in first if first[name] != second[name])
    assert not differing, f"these files differ between the wheel from the tree and the one from the sdist: {differing}"
    assert built.wheel.read_bytes() == again.read_bytes(), "same files, yet the wheels differ: not reproducible"


# --- installed from the wheel ---------------------------------------------------------------------------------------


# First, because it takes longest: the other environments are installed meanwhile.
@pytest.mark.servers
def test_the_examples_pass_against_the_installed_wheel(
    unpacked_sdist: Path, environments: Environments, tmp_path: Path
) -> None:
    python = environments["examples"].result()
    venv = python.parent.parent
    # The sdist's tests and examples, with its pytest configuration, and no package beside them: the examples can
    # only import logout_middleware from the wheel, and a file the sdist lacks fails them too.
    project = tmp_path / "project"
    for name in ("tests", "examples"):
        shutil.copytree(unpacked_sdist / name, project / name)
    shutil.copy2(unpacked_sdist / "pyproject.toml", project / "pyproject.toml")
    assert not (project / PACKAGE).exists()
    # With every extra and every framework there, every module imports, and from the wheel.
    files, errors = import_in(python, [PACKAGE, *package_modules()], cwd=project)
    assert not errors, f"with the [all] extra and the frameworks, these do not import: {errors}"
    outside = imported_from_outside(files, venv)
    assert not outside, f"{PACKAGE} does not come from the wheel: {outside}"

    result = run(
        [python, "-m", "pytest", "tests/test_examples.py", "-p", "no:cacheprovider", "-q", "-rA"],
        timeout=EXAMPLES_TIMEOUT,
        cwd=project,
        env=user_env(venv),
    )
    assert result.returncode == 0, f"the examples fail against the installed wheel:\n{output_of(result)}"
    assert re.search(r"\b\d+ passed\b", result.stdout), output_of(result)


def test_every_extra_is_described_here() -> None:
    assert set(PROMISES) == set(EXTRAS), "describe each extra of pyproject.toml in PROMISES, and only those"
    modules = package_modules()
    for module, extra in NEEDS_EXTRA.items():
        assert module in modules, f"NEEDS_EXTRA names {module}, which is gone"
        assert module in PROMISES[extra], f"{module} needs the {extra} extra, so PROMISES[{extra!r}] must name it"
    for module, framework in NEEDS_FRAMEWORK.items():
        assert module in modules, f"NEEDS_FRAMEWORK names {module}, which is gone"
        assert framework in EXAMPLES_NEED, f"{module} is imported with {framework} in the examples' environment"


@pytest.mark.parametrize("extra", ["", *sorted(EXTRAS)], ids=lambda extra: extra or "no-extra")
def test_the_wheel_installs_with_each_extra(extra: str, environments: Environments) -> None:
    python = environments[extra].result()
    venv = python.parent.parent
    # Every extra includes the core: every module that needs neither an extra nor a framework imports with none.
    core = [name for name in package_modules() if name not in NEEDS_EXTRA and name not in NEEDS_FRAMEWORK]
    wanted = core + PROMISES.get(extra, [])
    files, errors = import_in(python, wanted)
    install = f'pip install "{DIST_NAME}[{extra}]"' if extra else f"pip install {DIST_NAME}"
    assert not errors, f"{install} does not let a user import: {errors}"
    outside = imported_from_outside(files, venv)
    assert not outside, f"imported from outside the fresh environment {venv}: {outside}"


@pytest.mark.servers
def test_the_gateway_command_serves_from_the_gateway_extra(environments: Environments) -> None:
    python = environments["gateway"].result()
    venv = python.parent.parent
    env = user_env(venv)
    result = run([python, "-m", PACKAGE, "--help"], timeout=60, env=env)
    assert result.returncode == 0 and "usage" in result.stdout, output_of(result)

    endpoint = "https://op.example.test/session/end"
    env["LOGOUT_MIDDLEWARE_END_SESSION_ENDPOINT"] = endpoint
    # Forward auth verifies id_tokens, which takes an issuer and a client; nothing listens there, and the logout
    # does not need it since the end-session endpoint is given.
    env["LOGOUT_MIDDLEWARE_ISSUER"] = f"http://{HOST}:{free_port()}"
    env["LOGOUT_MIDDLEWARE_CLIENT_ID"] = "gateway"
    port = free_port()
    command = [str(venv / "bin" / "logout-gateway"), "--host", HOST, "--port", str(port)]
    with serve_process(command, port=port, env=env, cwd=venv, ready_path="/healthz") as base_url:
        health = httpx.get(f"{base_url}/healthz")
        assert (health.status_code, health.text.strip()) == (200, "ok")
        logout = httpx.get(f"{base_url}/logout")
        assert logout.status_code == 303, logout.text
        assert logout.headers["location"].split("?")[0] == endpoint
