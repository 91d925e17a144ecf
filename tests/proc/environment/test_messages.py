"""What a refusal says: guard, target and a message that tells how to allow it."""

from __future__ import annotations

import os

import pytest

from hermetic_proc._environment_patch import MACHINERY_VISIBLE, Matcher

from .conftest import BLOCK, ENV, EnvRun

MESSAGES = {
    "os.environ['HT_SECRET']": (
        "HT_SECRET",
        "environment disabled: read os.environ['HT_SECRET'] "
        "(use --allow-env HT_SECRET or allow_env=['HT_SECRET'])",
    ),
    "os.getenv('HT_SECRET')": (
        "HT_SECRET",
        "environment disabled: read os.environ['HT_SECRET'] "
        "(use --allow-env HT_SECRET or allow_env=['HT_SECRET'])",
    ),
    "os.environb[b'HT_SECRET']": (
        "HT_SECRET",
        "environment disabled: read os.environb[b'HT_SECRET'] "
        "(use --allow-env HT_SECRET or allow_env=['HT_SECRET'])",
    ),
    "posix.environ[b'HT_SECRET']": (
        "HT_SECRET",
        "environment disabled: read posix.environ[b'HT_SECRET'] "
        "(use --allow-env HT_SECRET or allow_env=['HT_SECRET'])",
    ),
    "os.environ.__setitem__('HT_NEW', 'v')": (
        "HT_NEW",
        "environment disabled: set os.environ['HT_NEW'] "
        "(use --allow-env HT_NEW or allow_env=['HT_NEW'])",
    ),
    "os.environ.__delitem__('HT_DOOMED')": (
        "HT_DOOMED",
        "environment disabled: unset os.environ['HT_DOOMED'] "
        "(use --allow-env HT_DOOMED or allow_env=['HT_DOOMED'])",
    ),
    "os.putenv('HT_NEW', 'v')": (
        "HT_NEW",
        "environment disabled: set HT_NEW through os.putenv "
        "(use --allow-env HT_NEW or allow_env=['HT_NEW'])",
    ),
    "os.unsetenv('HT_DOOMED')": (
        "HT_DOOMED",
        "environment disabled: unset HT_DOOMED through os.unsetenv "
        "(use --allow-env HT_DOOMED or allow_env=['HT_DOOMED'])",
    ),
    "os.environ['odd name']": (
        "odd name",
        "environment disabled: read os.environ['odd name'] "
        "(use --allow-env 'odd name' or allow_env=['odd name'])",
    ),
    "dict(os.environ)": (
        "*",
        "environment disabled: list the variables of os.environ (read the variables the "
        "program needs by name and allow them with --allow-env NAME or allow_env=['NAME']; "
        "listing the whole environment needs --allow-env '*')",
    ),
    "repr(os.environ)": (
        "*",
        "environment disabled: show os.environ (read the variables the program needs by "
        "name and allow them with --allow-env NAME or allow_env=['NAME']; listing the whole "
        "environment needs --allow-env '*')",
    ),
    "importlib.reload(os)": (
        "os",
        "environment disabled: run the os module's code again (importlib.reload(os), or a "
        "fresh import of os after removing it from sys.modules) (it would replace os.environ, "
        "os.getenv and the rest of os with copies the guard has not patched; use the os module "
        "as it is)",
    ),
}


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_messages(env_run: EnvRun, mode: str) -> None:
    body = "import os, posix, importlib\n" + "".join(
        f"attempt({code!r}, lambda: {code})\n" for code in MESSAGES
    )
    run = env_run(mode, {**BLOCK, "trace": True}, body)
    for code, (target, message) in MESSAGES.items():
        assert run.outcomes[code][1:] == ["blocked", "environment", target, message], code
    # --trace: one line per refusal on stderr
    assert "hermetic: blocked environment: read os.environ['HT_SECRET']\n" in run.stderr
    assert "hermetic: blocked environment: list the variables of os.environ (*)\n" in run.stderr


@pytest.mark.parametrize("mode", ["inprocess", "bootstrap"])
def test_os_system_names_a_hidden_variable_and_the_way_out(env_run: EnvRun, mode: str) -> None:
    run = env_run(mode, BLOCK, "import os\nattempt('system', lambda: os.system('true'))\n")
    _label, status, guard, target, message = run.outcomes["system"]
    assert (status, guard) == ("blocked", "environment")
    hidden = sorted(name for name in {**os.environ, **ENV} if not Matcher(MACHINERY_VISIBLE)(name))
    assert target == hidden[0]  # the first variable the child should not have seen
    assert f"with {len(hidden)} variable(s)" in message
    assert message.startswith(
        "environment disabled: os.system('true') would pass on the whole environment, with "
    )
    assert message.endswith(
        "variable(s) the policy does not let it see (use subprocess.run(..., shell=True), "
        "whose child gets only the variables the policy lets it see, or allow the variables "
        "with --allow-env NAME)"
    )
