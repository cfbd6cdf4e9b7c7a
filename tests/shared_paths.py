"""Where the shared fixtures are (imported by conftest.py and by test modules).

$RECEIVABLES_SHARED_FIXTURES, else shared/fixtures beside the checkout (CI), else beside the
repository this checkout was cloned from (a fresh clone in a temporary folder).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _shared_fixtures() -> Path:
    candidates = [REPO.parent / "shared" / "fixtures"]
    if os.environ.get("RECEIVABLES_SHARED_FIXTURES"):
        candidates.insert(0, Path(os.environ["RECEIVABLES_SHARED_FIXTURES"]))
    origin = subprocess.run(["git", "-C", str(REPO), "remote", "get-url", "origin"],
                            capture_output=True, text=True).stdout.strip()
    if origin and Path(origin).is_dir():
        candidates.append(Path(origin).resolve().parent / "shared" / "fixtures")
    return next((c for c in candidates if c.is_dir()), candidates[0])


SHARED_FIXTURES = _shared_fixtures()
