"""Docs match code: every CLI command is in the README with an example, and has an Example in --help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from prefkit.cli.main import app

ROOT = Path(__file__).resolve().parents[1]


def _commands(cmd: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    if hasattr(cmd, "commands"):  # a group (typer vendors its own click)
        for name, sub in cmd.commands.items():
            out.extend(_commands(sub, (*prefix, name)))
    else:
        out.append((prefix, cmd))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def _readme_code() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S))


def test_there_are_commands() -> None:
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"validate", "info", "convert", "import", "export", "version"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p))
def test_command_in_readme_with_example(path: tuple[str, ...]) -> None:
    code = _readme_code()
    pattern = r"(^|\s)prefkit\s+" + r"\s+".join(re.escape(p) for p in path) + r"(\s|$)"
    assert re.search(pattern, code, flags=re.M), f"`prefkit {' '.join(path)}` has no example in README.md"


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_help_has_example(path: tuple[str, ...], cmd: Any) -> None:
    assert "Example" in (cmd.help or ""), f"`prefkit {' '.join(path)} --help` shows no Example"


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("prefkit")
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "validate" in res.stdout


def test_unknown_command_exit_2() -> None:
    exe = Path(sys.executable).with_name("prefkit")
    res = subprocess.run([str(exe), "no-such-command"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
