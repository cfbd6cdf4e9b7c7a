"""Running a `receivables` command that writes a CSV, as the contract's users script it."""

from __future__ import annotations

import csv
from pathlib import Path

from receivables.cli import main


def command_csv(args: list[str], out: Path, header: list[str]) -> list[dict]:
    """Run `receivables <args> --out <out>`, check it succeeds and the CSV's header, return its rows."""
    assert main([*args, "--out", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == header
        return list(reader)
