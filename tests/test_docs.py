"""The documented commands: each one runs as written (on shipped or generated data) or says what it needs.

In ```bash blocks of README.md and docs/<language>/*.md, every line is a command (continued with a
trailing backslash). A command that needs what a new user does not have (a released checkpoint,
their own videos, a GPU, a long run) ends with `# needs: <what>`; every other command is run here,
page by page in order, from one copy of the repository (a command already run for an earlier page is
not run again), each within two minutes. `pip install`
commands are not run (this environment is the installed project; the extras they name must exist),
nor is the test suite's own command, nor the TIPC chain (tests/test_tipc.py runs it).
The Chinese pages must document exactly the commands of the English ones.
"""
import glob
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import REPO

NEEDS = re.compile(r"#\s*needs:\s*\S")
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def pages(language="en_US"):
    found = sorted(glob.glob(os.path.join(REPO, "docs", language, "*.md")))
    return ([os.path.join(REPO, "README.md")] if language == "en_US" else []) + found


def commands(path):
    """The shell commands of a page's bash blocks, continuation lines joined, comment lines dropped."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = []
    for block in BLOCK.findall(text):
        current = ""
        for line in block.splitlines():
            stripped = line.strip()
            if not current and (not stripped or stripped.startswith("#")):
                continue
            if stripped.endswith("\\"):
                current += stripped[:-1] + " "
                continue
            found.append((current + stripped).strip())
            current = ""
        assert not current, "%s: a bash block ends with a continuation line" % path
    return found


def _name(path):
    return os.path.relpath(path, REPO)


def test_there_are_english_and_chinese_docs():
    assert len(pages("en_US")) > 5
    assert {os.path.basename(p) for p in pages("zh_CN")} == {os.path.basename(p) for p in pages("en_US")[1:]}


@pytest.mark.parametrize("page", pages("zh_CN"), ids=_name)
def test_chinese_pages_document_the_english_commands(page):
    english = os.path.join(REPO, "docs", "en_US", os.path.basename(page))
    assert commands(page) == commands(english)


def test_pip_install_commands_name_real_extras():
    with open(os.path.join(REPO, "setup.py")) as f:
        setup = f.read()
    for page in pages():
        for command in commands(page):
            for extras in re.findall(r'pip install -e "?\.\[([^\]]+)\]', command):
                for extra in extras.split(","):
                    assert '"%s":' % extra.strip() in setup, (page, command)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A copy of the repository's files (tracked and new, not ignored), as a fresh clone would have."""
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split("\n")
    root = tmp_path_factory.mktemp("checkout")
    for name in filter(None, listing):
        source = os.path.join(REPO, name)
        if os.path.isfile(source):
            os.makedirs(os.path.join(str(root), os.path.dirname(name)), exist_ok=True)
            shutil.copy2(source, os.path.join(str(root), name))
    return str(root)


_DONE = set()  # commands that already ran in the shared checkout (pages repeat the quick start's)


@pytest.mark.slow  # minutes: the slow set (pytest.ini), which CI runs too
@pytest.mark.parametrize("page", pages(), ids=_name)
def test_documented_commands_run(page, checkout):
    env = dict(os.environ, PPGAN_CACHE_DIR=os.path.join(checkout, ".export-cache"))
    for command in commands(page):
        if NEEDS.search(command) or command in _DONE or command.startswith("bash test_tipc/"):
            continue  # the TIPC chain's own commands run in tests/test_tipc.py
        # pip: this environment is the installed project; pytest: the suite this test is part of
        parts = [p.strip() for p in command.split("&&")
                 if not p.strip().startswith("pip install") and "-m pytest" not in p]
        if not parts:
            continue
        start = time.perf_counter()
        proc = subprocess.run(["bash", "-c", " && ".join(parts)], cwd=checkout, env=env, capture_output=True,
                              text=True, timeout=120)
        print("%5.1f s  %s" % (time.perf_counter() - start, command[:110]))
        assert proc.returncode == 0, "%s: `%s` failed:\n%s" % (_name(page), command, proc.stderr[-2000:])
        _DONE.add(command)
