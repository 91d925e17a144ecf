"""Ordinary code under ``block_environment``: Python's own machinery keeps working.

Each case runs without the guard and under it, in both delivery modes, and must succeed
both times with the same answer (``report``ed values are compared), except where the
guard's answer is the documented one (``urllib.request.getproxies()`` sees only allowed
proxy variables).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import BLOCK, EnvRun, value, write_module

MODES = pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])

ENVMOD = """
def boom():
    raise ValueError("boom from envmod")  # the source line a traceback must show
"""

FRESH = "VALUE = 42\n"

ORDINARY = """
import os, sys
def keep(label, fn):
    def run():
        report(label + " =", str(fn()))
    attempt(label, run)

def fresh_import():
    import freshmod
    return freshmod.VALUE
keep("fresh import of a module without bytecode", fresh_import)
keep("first import of a stdlib module", lambda: __import__("colorsys").__name__)
import locale
keep("locale.getpreferredencoding", lambda: locale.getpreferredencoding(False))
keep("locale.setlocale", lambda: locale.setlocale(locale.LC_ALL, ""))
keep("locale.getlocale", locale.getlocale)
import tempfile
keep("tempfile.gettempdir", tempfile.gettempdir)
def temporary_directory():
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "f"), "w") as f:
            f.write("x")
    return os.path.exists(d)
keep("tempfile.TemporaryDirectory", temporary_directory)
keep("tempfile.NamedTemporaryFile", lambda: tempfile.NamedTemporaryFile().close())
import subprocess
keep("subprocess.run", lambda: subprocess.run(
    [sys.executable, "-c", "print('child ran')"], capture_output=True, text=True, check=True
).stdout.strip())
keep("subprocess env=os.environ", lambda: subprocess.run(
    [sys.executable, "-c", "pass"], env=os.environ, check=True).returncode)
keep("os.popen", lambda: os.popen("echo popen ran").read().strip())
def traceback_lines():
    import traceback, envmod
    try:
        envmod.boom()
    except ValueError:
        text = traceback.format_exc()
    assert "the source line a traceback must show" in text, text
    return "ok"
keep("traceback with source lines", traceback_lines)
import platform
keep("platform.platform", platform.platform)
keep("platform.uname", lambda: platform.uname().system)
import argparse
def argparse_help():
    parser = argparse.ArgumentParser(prog="tool", description="a tool")
    parser.add_argument("--flag", help="a flag")
    assert "--flag" in parser.format_help()
    return parser.parse_args(["--flag", "x"]).flag
keep("argparse help", argparse_help)
import decimal
keep("decimal", lambda: decimal.Decimal("1.10") + decimal.Decimal("2.205"))
import logging
keep("logging", lambda: logging.getLogger("envtest").warning("logged under the guard"))
import warnings
keep("warnings", lambda: warnings.warn("warned under the guard"))
import shutil
keep("shutil.which", lambda: shutil.which("sh"))
keep("shutil.get_terminal_size", lambda: shutil.get_terminal_size((91, 19)).columns)
keep("os.path.expanduser", lambda: os.path.expanduser("~"))
keep("os.path.expandvars of HOME", lambda: os.path.expandvars("$HOME/x"))
import pathlib
keep("pathlib.Path.home", pathlib.Path.home)
keep("os.get_exec_path", os.get_exec_path)
import getpass
keep("getpass.getuser", getpass.getuser)
import asyncio
async def main():
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await proc.wait()
    await asyncio.sleep(0)
    return proc.returncode
keep("asyncio.run", lambda: asyncio.run(main()))
import urllib.request
keep("urllib.request.getproxies", urllib.request.getproxies)
import gettext
keep("gettext", lambda: gettext.gettext("usage: "))
import ssl
keep("ssl default context", lambda: ssl.create_default_context().verify_mode)
import threading
def in_a_thread():
    out = []
    t = threading.Thread(target=lambda: out.append(len(os.path.expanduser("~"))))
    t.start()
    t.join()
    return out[0]
keep("a thread", in_a_thread)
import zoneinfo
keep("zoneinfo", lambda: zoneinfo.ZoneInfo("UTC").key)
import email.utils
keep("email.utils.localtime", lambda: email.utils.localtime().tzinfo is not None)
import sysconfig
keep("sysconfig.get_paths", lambda: sorted(sysconfig.get_paths()))
import runpy
keep("runpy.run_path", lambda: runpy.run_path("freshmod.py")["VALUE"])
"""

#: Cases whose answer differs under the guard, on purpose (see docs/guards/environment.md).
DIFFERENT = {"urllib.request.getproxies"}


def _labels() -> list[str]:
    return [
        line.split('"')[1]
        for line in ORDINARY.splitlines()
        if line.startswith("keep(") and '"' in line
    ]


@MODES
def test_ordinary_code_keeps_working(env_run: EnvRun, tmp_path: Path, mode: str) -> None:
    write_module(tmp_path, "envmod", ENVMOD)
    write_module(tmp_path, "freshmod", FRESH)
    proxy = {"http_proxy": "http://user:password@proxy.invalid:3128"}
    plain = env_run(mode, {}, ORDINARY, env=proxy)
    run = env_run(mode, BLOCK, ORDINARY, env=proxy)
    labels = _labels()
    assert len(labels) > 30
    failed = {k: run.outcomes.get(k) for k in labels if run.status(k) != "ok"}
    assert not failed, run.stderr
    assert all(plain.status(k) == "ok" for k in labels), plain.stderr
    for label in labels:
        if label not in DIFFERENT:
            assert value(run, label + " =") == value(plain, label + " ="), label
    assert "proxy.invalid" in value(plain, "urllib.request.getproxies =")
    assert value(run, "urllib.request.getproxies =") == "{}"
    assert "logged under the guard" in run.stderr
    assert "PolicyViolation" not in run.stderr


@MODES
def test_allowed_proxy_variables_reach_urllib(env_run: EnvRun, mode: str) -> None:
    body = "import urllib.request\nreport('proxies', urllib.request.getproxies())\n"
    proxy = {"http_proxy": "http://proxy.invalid:3128", "HT_OTHER_proxy": "x"}
    run = env_run(mode, {**BLOCK, "allow_env": ["http_proxy"]}, body, env=proxy)
    assert value(run, "proxies") == {"http": "http://proxy.invalid:3128"}


@MODES
def test_the_standard_library_never_sees_a_hidden_variable(env_run: EnvRun, mode: str) -> None:
    """What Python's machinery reads on the program's behalf has no secret in it."""
    body = """
    import os, subprocess, sys, pprint, unittest.mock
    report("expandvars", os.path.expandvars("$HT_SECRET"))
    report("pprint", pprint.pformat(os.environ))
    child = "import os; print(sorted(os.environ))"
    report("child", subprocess.run([sys.executable, "-I", "-c", child],
                                   capture_output=True, text=True).stdout)
    report("child of env=os.environ", subprocess.run(
        [sys.executable, "-I", "-c", child], env=os.environ, capture_output=True, text=True
    ).stdout)
    with unittest.mock.patch.dict(os.environ, {"HT_ALLOWED": "patched"}):
        report("patched", os.environ["HT_ALLOWED"])
    report("restored", os.environ["HT_ALLOWED"])
    report("secret kept", c_getenv("HT_SECRET") == SECRET)
    """
    plain = env_run(mode, {"block_environment": False}, body)
    assert value(plain, "expandvars") == "s3cr3t-value"
    assert "HT_SECRET" in value(plain, "child")
    run = env_run(mode, {**BLOCK, "allow_env": ["HT_ALLOWED"]}, body)
    assert value(run, "expandvars") == "$HT_SECRET"
    pretty = value(run, "pprint")
    assert "HT_SECRET" not in pretty and "'HT_ALLOWED': 'allowed-value'" in pretty
    assert "'PATH'" in pretty  # the machinery's own variables stay visible to it
    for label in ("child", "child of env=os.environ"):
        seen = value(run, label)
        assert "HT_SECRET" not in seen and "HT_DOOMED" not in seen, seen
        assert "'HT_ALLOWED'" in seen and "'PATH'" in seen, seen
    assert value(run, "patched") == "patched"
    assert value(run, "restored") == "allowed-value"
    assert value(run, "secret kept") is True


#: What the two clients read on a request when ``trust_env`` is on (docs/guards/environment.md).
REQUESTS_READS = ("NETRC", "no_proxy", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
HTTPX_READS = ("SSL_CERT_FILE", "SSL_CERT_DIR")


def test_third_party_libraries_are_the_program() -> None:
    """requests and httpx read proxy and CA variables unless told not to (trust_env)."""
    import importlib

    import requests

    # Untyped on purpose: mypy (python_version 3.9) cannot parse the anyio httpx installs.
    httpx: Any = importlib.import_module("httpx")

    from hermetic import hermetic_blocker
    from hermetic.errors import PolicyViolation
    from hermetic_testsupport.servers import http_counter

    with http_counter() as served:
        server: Any = served
        url = str(server.url) + "/x"
        with hermetic_blocker(**BLOCK):
            with pytest.raises(PolicyViolation) as info:
                requests.get(url, timeout=10)
            assert info.value.target in REQUESTS_READS
            with pytest.raises(PolicyViolation) as info:
                httpx.get(url, timeout=10)
            assert info.value.target in HTTPX_READS
            session = requests.Session()
            session.trust_env = False
            assert session.get(url, timeout=10).status_code == 200
            with httpx.Client(trust_env=False) as client:
                assert client.get(url, timeout=10).status_code == 200
        assert server.hits == ["/x", "/x"]
