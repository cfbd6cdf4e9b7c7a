"""The receivable ledger lines, read from the warehouse once per run and version of the ledger.

    lines = receivable_lines(engine, settings, as_of)     # what store.read_receivable_lines gives

Six tasks of a wave need every receivable line (matching, applying, scoring, planning, aging,
KPIs): reading them back from the warehouse and typing them cost ~9 s per task on 1M ledger lines
(437k receivable lines; SQLAlchemy rows, then pandas), a Parquet file ~0.3 s. The first task
that reads them writes `<run folder>/cache/receivable_lines.<version>.parquet`; the others read it.

The version names what the warehouse holds: its URL (without the password), every ledger import
still in `ledger_imports` (a load replaces a source's lines under a new import id, in the same
transaction) and the count of receivable lines. So a ledger reloaded between two tasks, or another
warehouse pointed at the same data folder, gets a new file; the cache can only be stale if
someone edits `ledger_lines` by hand without an import, and then the count still usually moves.
A file that cannot be read is ignored and replaced. Files are written under a temporary name and
renamed, so two tasks writing at once never leave a torn file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select

from receivables.ledger.schema import LINE_COLUMNS

log = logging.getLogger(__name__)


def ledger_version(conn, url: str) -> str:  # noqa: ANN001
    """A digest of what `read_receivable_lines` would read now (see the module's docstring)."""
    from receivables.warehouse.schema import ledger_imports, ledger_lines
    from receivables.warehouse.store import RECEIVABLE_ACCOUNT_PREFIX

    imports = conn.execute(select(ledger_imports.c.import_id, ledger_imports.c.source, ledger_imports.c.sha256,
                                  ledger_imports.c.rows_loaded).order_by(ledger_imports.c.import_id)).all()
    count = conn.execute(select(func.count()).select_from(ledger_lines).where(
        ledger_lines.c.account.like(RECEIVABLE_ACCOUNT_PREFIX + "%"))).scalar_one()
    digest = hashlib.sha256(url.encode())
    for row in imports:
        digest.update(repr(tuple(row)).encode())
    digest.update(f"|{count}".encode())
    return digest.hexdigest()[:24]


def receivable_lines(engine: Engine, folder: Path) -> pd.DataFrame:
    """The receivable lines (`store.read_receivable_lines`), through the cache in `folder`."""
    from receivables.warehouse.store import read_receivable_lines

    with engine.connect() as conn:
        version = ledger_version(conn, engine.url.render_as_string(hide_password=True))
        path = Path(folder) / f"receivable_lines.{version}.parquet"
        if path.exists():
            try:
                return pd.read_parquet(path)[list(LINE_COLUMNS)]
            except Exception as error:  # noqa: BLE001  a damaged file is read again from the warehouse
                log.warning("ledger cache %s unreadable (%s): read from the warehouse", path.name, error)
        lines = read_receivable_lines(conn)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    lines.to_parquet(temporary, index=False)
    os.replace(temporary, path)
    for stale in path.parent.glob("receivable_lines.*.parquet"):
        if stale != path:          # an older ledger's: a reader that loses the race reads the warehouse
            stale.unlink(missing_ok=True)
    return lines

