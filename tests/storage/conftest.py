"""Fixtures of the storage tests: the prefkit CLI run in-process through its error boundary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from prefkit.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        capsys.readouterr()
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        got = capsys.readouterr()
        return Result(code, got.out, got.err)

    return run
