"""The command line teaches: help for every subcommand, and it starts fast."""

from __future__ import annotations

import subprocess
import sys

import pytest

from calcisvd.cli import COMMANDS, build_parser, main


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out
    assert "CALCISVD_HOME" in out


@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_has_teaching_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([name, "--help"])
    out = capsys.readouterr().out
    assert f"calcisvd {name}" in out
    assert "--home" in out
    assert len(out.splitlines()) > 8


def test_help_imports_nothing_heavy() -> None:
    code = ("import sys; from calcisvd.cli import build_parser; "
            "build_parser(); heavy=[m for m in ('prefect','great_expectations','nipype',"
            "'SimpleITK','duckdb','scipy') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]", f"heavy modules imported at --help time: {out}"
