"""Every message a plan would send, rendered for a human to review before anything goes out.

    result = plan_actions(items, customers, risk, policy, as_of, ...)
    preview_plan(Path("preview/"), result, customers=customers, items=items, risk=risk,
                 legal=load_rules("FR"), as_of=as_of)
    # preview/index.html lists each message; preview/<action_key>.<channel>.html / .txt / .pdf

`messages` renders the actions one by one (a message is a document: there is no vectorized
form), in the language the plan chose when its templates exist, else the scenario's default
language, else English. Statements list every open item of the customer; call scripts show the
customer's risk score and drivers.

The tables are indexed once per call (customers, risk scores, each action's lines, the open items
of the customers who get a statement, as plain dicts and lists of records) and the templates are
compiled once per process (`render.shared_environment`): what is left per message is Python on
a few small dicts, then Jinja.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from receivables.scenarios.legal import LegalRules, LegalRulesError
from receivables.scenarios.planner import PlanResult
from receivables.scenarios.render import (
    Creditor,
    Rendered,
    available_language,
    message_context,
    render_action,
    shared_environment,
    write_preview,
)


def _first_rows(frame: pd.DataFrame | None, ids: set) -> Callable[[object], dict | None]:
    """customer_id (one of `ids`) -> the other columns of the first row with that id, as
    `frame.drop_duplicates("customer_id").set_index("customer_id").loc[cid].to_dict()` gives
    them; None for an id not in `frame`. Only the rows of `ids` are read (a batch of a few
    messages does not index the whole customer master)."""
    if frame is None or frame.empty:
        return lambda cid: None
    frame = frame[frame["customer_id"].isin(ids)]
    indexed = frame.drop_duplicates("customer_id").set_index("customer_id")
    if any(dtype == object for dtype in indexed.dtypes):
        # with a text column a row is an object Series, whose to_dict() is the frame's record
        rows = dict(zip(indexed.index, indexed.to_dict("records")))
        return lambda cid: dict(rows[cid]) if cid in rows else None
    # only numbers: .loc upcasts the row to one dtype (an int becomes a float): keep it
    return lambda cid: indexed.loc[cid].to_dict() if cid in indexed.index else None


def _grouped(frame: pd.DataFrame, keys: pd.Series) -> dict[object, list[dict]]:
    """The records of `frame` by key, in the frame's order (as groupby splits it; no missing key)."""
    out: dict[object, list[dict]] = {}
    for key, row in zip(keys.tolist(), frame.to_dict("records")):
        if isinstance(key, str) or not pd.isna(key):
            out.setdefault(key, []).append(row)
    return out


def messages(result: PlanResult, *, customers: pd.DataFrame, items: pd.DataFrame, risk: pd.DataFrame | None,
             legal: LegalRules | None, as_of: dt.date, creditor: Creditor | None = None,
             templates_dir: Path | None = None, fallback_language: str = "fr") -> Iterator[Rendered]:
    """The rendered messages of `result`, in its order; a message whose templates do not exist in
    its language is rendered in `fallback_language`."""
    env = shared_environment(templates_dir) if templates_dir else shared_environment()
    creditor = creditor or Creditor.from_env(os.environ)
    actions = result.actions.to_dict("records")
    ids = {action["customer_id"] for action in actions}
    master = _first_rows(customers, ids)
    scores = _first_rows(risk, ids)
    lines = _grouped(result.lines, result.lines["action_key"]) if not result.lines.empty else {}
    # statements list every open item of their customer: only those customers' items are indexed
    statement = {action["customer_id"] for action in actions if action["channel"] == "statement"}
    account: dict[object, list[dict]] = {}
    if statement:
        owner = items["customer_id"].astype(str)
        listed = owner.isin(statement).to_numpy()
        account = _grouped(items[listed].assign(customer_id=owner[listed]), owner[listed])
    try:
        rate = legal.rate_on(as_of) if legal is not None else None
    except LegalRulesError:
        rate = None
    languages: dict[tuple, str] = {}      # the template files present, looked up once per call
    for action in actions:
        cid = action["customer_id"]
        customer = {"customer_id": cid, **(master(cid) or {})}
        asked = (action["template"], action["channel"], action["language"])
        if asked not in languages:
            languages[asked] = available_language(env, *asked, fallback_language)
        action["language"] = languages[asked]
        context = message_context(
            action, lines.get(action["action_key"], []), customer, creditor, risk=scores(cid),
            account_items=account.get(cid) if action["channel"] == "statement" else None,
            annual_rate=rate if action["legal_fees"] else None)
        yield render_action(env, action, context)


def preview_plan(directory: Path, result: PlanResult, **kwargs) -> Path:  # noqa: ANN003
    """Render every message of `result` into `directory` (HTML, text, PDF) with an index; returns
    the index's path."""
    written = write_preview(Path(directory), messages(result, **kwargs))
    return written[-1]
