"""Engines, migrations and the bulk writer.

    >>> engine = make_engine("sqlite:///.data/warehouse.db")     # doctest: +SKIP
    >>> upgrade(engine)                                         # doctest: +SKIP
    >>> with engine.begin() as conn:                            # doctest: +SKIP
    ...     bulk_insert(conn, ledger_lines, frame)

`bulk_insert` takes a DataFrame whose int64/Int64 columns are minor units and datetime64 columns
are dates. It uses each driver's fast path, always with bound parameters: `executemany` on
SQLite, `COPY ... FROM STDIN` on PostgreSQL. A million ledger lines load in seconds, and inside
the caller's transaction, so a failed load leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Table, create_engine, event, false, inspect

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            # WAL lets the Airflow UI and a running task read while another task writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the warehouse to `revision` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_migrated(engine: Engine) -> bool:
    return "alembic_version" in inspect(engine).get_table_names()


def _column_values(series: pd.Series) -> np.ndarray:
    """A column as Python values the drivers accept: dates as ISO text, NA as None, instants
    (time-zone-aware timestamps) as ISO text with their UTC offset."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        values = series.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d %H:%M:%S+00:00").astype(object).to_numpy()
        values[pd.isna(series).to_numpy()] = None
        return values
    if pd.api.types.is_datetime64_any_dtype(series):
        # Few distinct dates in many rows: format each once.
        codes, distinct = pd.factorize(series.to_numpy(dtype="datetime64[D]"), use_na_sentinel=True)
        text = np.datetime_as_string(np.asarray(distinct, dtype="datetime64[D]"), unit="D").astype(object)
        return np.append(text, None)[codes]   # code -1 (NaT) picks the trailing None
    if isinstance(series.dtype, pd.BooleanDtype) or series.dtype == bool:
        return series.astype(object).to_numpy()
    if (isinstance(series.dtype, pd.api.extensions.ExtensionDtype) or series.dtype == object
            or pd.api.types.is_float_dtype(series)):   # NaN is a float to PostgreSQL: make it NULL
        values = series.astype(object).to_numpy()
        values[pd.isna(values)] = None
        return values
    return series.to_numpy().astype(object)   # numpy ints -> Python ints for the drivers


IN_SLICE = 5_000   # bound parameters per IN list (SQLite allows 32,766, PostgreSQL 65,535)


def read_where_in(conn, query, column, values) -> pd.DataFrame:  # noqa: ANN001
    """`query` restricted to rows whose `column` is one of `values`, as one frame (the values go
    in slices of IN_SLICE bound parameters; no value: the query's empty frame)."""
    values = list(values)
    frames = [pd.read_sql(query.where(column.in_(values[i:i + IN_SLICE])), conn)
              for i in range(0, len(values), IN_SLICE)]
    if not frames:
        return pd.read_sql(query.where(false()), conn)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def bulk_insert(conn, table: Table, frame: pd.DataFrame, chunk_rows: int = 200_000) -> int:  # noqa: ANN001
    """Insert every row of `frame` (columns named as `table`'s) into `table`; returns the count."""
    if frame.empty:
        return 0
    columns = [c.name for c in table.columns if c.name in frame.columns]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return _copy_postgres(conn, table, frame[columns])
    placeholders = ", ".join("?" if dialect == "sqlite" else "%s" for _ in columns)
    statement = f'INSERT INTO {table.name} ({", ".join(columns)}) VALUES ({placeholders})'
    for start in range(0, len(frame), chunk_rows):
        part = frame.iloc[start:start + chunk_rows]
        rows = list(zip(*(_column_values(part[c]) for c in columns)))
        # Straight to the DBAPI cursor of this connection (same transaction), no per-row wrapping.
        conn.connection.driver_connection.cursor().executemany(statement, rows)
    return len(frame)


def _copy_postgres(conn, table: Table, frame: pd.DataFrame) -> int:  # noqa: ANN001
    # COPY with rows handed to psycopg: NULLs, empty strings and quotes are all exact.
    columns = list(frame.columns)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy(f'COPY {table.name} ({", ".join(columns)}) FROM STDIN') as copy:
        for row in zip(*(_column_values(frame[c]) for c in columns)):
            copy.write_row(row)
    return len(frame)
