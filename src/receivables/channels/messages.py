"""The messages of outbox rows, rendered from the plan that created them.

    rows = outbox.claim(conn, "email", now=now)
    for row, message, customer in rendered(conn, rows, creditor=Creditor.from_env(os.environ)):
        message.subject, message.html, customer["email"]

An outbox row names its action (`action_key`, `as_of`); the action and its invoice lines are
read from `collection_actions` / `collection_action_lines` of that date, the customer from the
master as it is now (today's address, not the one of the plan date), the risk and, for
statements, the open items of the action's date. A fallback row (a letter replacing a bounced
email: `parent_action_key` set) renders its parent's action on its own channel, with the
channel's template of the same name (`letter/reminder_1` for `email/reminder_1`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pandas.core.dtypes.cast import maybe_box_native
from sqlalchemy import Connection, and_, func, or_, select, tuple_

from receivables.channels.outbox import read_frame
from receivables.scenarios.legal import LegalRules
from receivables.scenarios.planner import PlanResult
from receivables.scenarios.preview import messages
from receivables.scenarios.render import Creditor, Rendered
from receivables.warehouse.schema import collection_action_lines, collection_actions, open_items, risk_scores
from receivables.warehouse.store import read_customers

_CHUNK = 5_000


def _records(frame: pd.DataFrame) -> list[dict]:
    """`frame.to_dict("records")`, the same dicts and values, built from each column's values
    (`tolist()`: Python scalars, Timestamps) instead of row by row through pandas' boxing of
    every value, which costs more than the rest of a batch's set-up."""
    columns = frame.columns.tolist()
    values = []
    for position in range(len(columns)):
        column = frame.iloc[:, position]
        items = column.tolist()
        if column.dtype == object and any(issubclass(kind, np.generic) for kind in set(map(type, items))):
            items = [maybe_box_native(v) for v in items]    # what to_dict does to an object column
        values.append(items)
    return [dict(zip(columns, row)) for row in zip(*values)]


def _keys_in(conn: Connection, column, keys: list[str]):  # noqa: ANN001, ANN202
    """`column IN keys`; on SQLite the keys are one JSON parameter (json_each) rather than
    thousands of bound ones, whose expansion by SQLAlchemy costs more than the query."""
    if conn.dialect.name == "sqlite":
        return column.in_(select(func.json_each(json.dumps(keys)).table_valued("value").c.value))
    return column.in_(keys)


def _by_keys(conn: Connection, table, pairs: list[tuple]) -> pd.DataFrame:  # noqa: ANN001
    frames = []
    for start in range(0, len(pairs), _CHUNK):
        chunk = pairs[start:start + _CHUNK]
        if conn.dialect.name == "sqlite":
            # SQLite has row values, but SQLAlchemy's tuple IN needs a recent SQLite: spell it out
            days = sorted({d for d, _ in chunk})
            condition = or_(*(and_(table.c.as_of == d, _keys_in(conn, table.c.action_key, [k for dd, k in chunk if dd == d]))
                              for d in days))
        else:
            condition = tuple_(table.c.as_of, table.c.action_key).in_(chunk)
        frames.append(read_frame(conn, select(table).where(condition)))
    return pd.concat(frames, ignore_index=True) if frames else read_frame(conn, select(table).where(False))


def plan_of(conn: Connection, rows: pd.DataFrame) -> PlanResult:
    """The actions and lines behind outbox `rows`, one action per row, keyed by the row's key."""
    source = rows["parent_action_key"].where(rows["parent_action_key"] != "", rows["action_key"])
    days = pd.to_datetime(rows["as_of"]).dt.date
    pairs = sorted(set(zip(days, source)))
    actions = _by_keys(conn, collection_actions, pairs)
    lines = _by_keys(conn, collection_action_lines, pairs)
    wanted = pd.DataFrame({"action_key": source.to_numpy(), "as_of": days.to_numpy(),
                           "row_key": rows["action_key"].to_numpy(), "row_channel": rows["channel"].to_numpy()})
    actions["as_of"] = pd.to_datetime(actions["as_of"]).dt.date
    lines["as_of"] = pd.to_datetime(lines["as_of"]).dt.date
    found = wanted.merge(actions, on=["action_key", "as_of"], how="inner")
    missing = set(wanted["row_key"]) - set(found["row_key"])
    if missing:
        raise LookupError(f"{len(missing)} outbox rows have no planned action (e.g. {sorted(missing)[0]}): "
                          "was the plan of their date deleted?")
    changed = found["row_channel"] != found["channel"]
    name = found["template"].str.split("/", n=1).str[1]
    found.loc[changed, "template"] = found.loc[changed, "row_channel"] + "/" + name[changed]
    found["channel"] = found["row_channel"]
    lines = wanted[["action_key", "as_of", "row_key"]].merge(lines, on=["action_key", "as_of"])
    actions = found.drop(columns=["action_key", "row_channel"]).rename(columns={"row_key": "action_key"})
    lines = lines.drop(columns=["action_key"]).rename(columns={"row_key": "action_key"})
    return PlanResult(actions=actions.reset_index(drop=True), lines=lines.reset_index(drop=True),
                      skipped=pd.DataFrame())


def rendered(conn: Connection, rows: pd.DataFrame, *, creditor: Creditor, legal: LegalRules | None = None,
             customers: pd.DataFrame | None = None) -> Iterator[tuple[dict, Rendered, dict]]:
    """(outbox row, rendered message, customer master record) for each row, in the rows' order
    within each plan date."""
    if rows.empty:
        return
    plan = plan_of(conn, rows)
    ids = set(plan.actions["customer_id"].astype(str))
    # only this batch's customers: a chunk of a big day must not convert the whole master
    customers = (read_customers(conn, ids) if customers is None
                 else customers[customers["customer_id"].astype(str).isin(ids)])
    master = {str(r["customer_id"]): r for r in _records(customers.drop_duplicates("customer_id"))}
    # the row, with what the channel needs from its action (tone: courtesy or legal; invoices)
    fields = ["tone", "invoice_ids", "step_id", "template"]
    planned = dict(zip(plan.actions["action_key"].tolist(), _records(plan.actions[fields])))
    if len(planned) != len(plan.actions):
        raise ValueError("DataFrame index must be unique for orient='index'.")
    by_key = {str(r["action_key"]): r | planned[str(r["action_key"])] for r in _records(rows)}
    for day, actions in plan.actions.groupby("as_of", sort=True):
        keys = set(actions["action_key"])
        ids = sorted(set(actions["customer_id"]))
        risk = pd.read_sql(select(risk_scores).where(risk_scores.c.as_of == day,
                                                     risk_scores.c.customer_id.in_(ids)), conn) if ids else None
        statement_ids = sorted(set(actions.loc[actions["channel"] == "statement", "customer_id"]))
        items = (pd.read_sql(select(open_items).where(open_items.c.as_of == day,
                                                      open_items.c.customer_id.in_(statement_ids)), conn)
                 if statement_ids else pd.read_sql(select(open_items).where(False), conn))
        part = PlanResult(actions=actions, lines=plan.lines[plan.lines["action_key"].isin(keys)],
                          skipped=plan.skipped)
        for message in messages(part, customers=customers, items=items, risk=risk, legal=legal, as_of=day,
                                creditor=creditor):
            customer = master.get(message.customer_id, {"customer_id": message.customer_id})
            yield by_key[message.action_key], message, customer
