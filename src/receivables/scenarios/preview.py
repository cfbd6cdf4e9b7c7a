"""Every message a plan would send, rendered for a human to review before anything goes out.

    result = plan_actions(items, customers, risk, policy, as_of, ...)
    preview_plan(Path("preview/"), result, customers=customers, items=items, risk=risk,
                 legal=load_rules("FR"), as_of=as_of)
    # preview/index.html lists each message; preview/<action_key>.<channel>.html / .txt / .pdf

`messages` renders the actions one by one (a message is a document: there is no vectorized
form), in the language the plan chose when its templates exist, else the scenario's default
language, else English. Statements list every open item of the customer; call scripts show the
customer's risk score and drivers.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from receivables.scenarios.legal import LegalRules, LegalRulesError
from receivables.scenarios.planner import PlanResult
from receivables.scenarios.render import (
    Creditor,
    Rendered,
    available_language,
    make_environment,
    message_context,
    render_action,
    write_preview,
)


def messages(result: PlanResult, *, customers: pd.DataFrame, items: pd.DataFrame, risk: pd.DataFrame | None,
             legal: LegalRules | None, as_of: dt.date, creditor: Creditor | None = None,
             templates_dir: Path | None = None, fallback_language: str = "fr") -> Iterator[Rendered]:
    """The rendered messages of `result`, in its order; a message whose templates do not exist in
    its language is rendered in `fallback_language`."""
    env = make_environment(templates_dir) if templates_dir else make_environment()
    creditor = creditor or Creditor.from_env(os.environ)
    master = customers.drop_duplicates("customer_id").set_index("customer_id")
    scores = (risk.drop_duplicates("customer_id").set_index("customer_id")
              if risk is not None and not risk.empty else pd.DataFrame())
    lines = {key: frame for key, frame in result.lines.groupby("action_key")}
    account = {cid: frame for cid, frame in items.assign(customer_id=items["customer_id"].astype(str))
               .groupby("customer_id")}
    try:
        rate = legal.rate_on(as_of) if legal is not None else None
    except LegalRulesError:
        rate = None
    for action in result.actions.to_dict("records"):
        cid = action["customer_id"]
        customer = {"customer_id": cid, **(master.loc[cid].to_dict() if cid in master.index else {})}
        action["language"] = available_language(env, action["template"], action["channel"], action["language"],
                                                fallback_language)
        context = message_context(
            action, lines.get(action["action_key"], result.lines.iloc[0:0]), customer, creditor,
            risk=scores.loc[cid].to_dict() if cid in scores.index else None,
            account_items=account.get(cid) if action["channel"] == "statement" else None,
            annual_rate=rate if action["legal_fees"] else None)
        yield render_action(env, action, context)


def preview_plan(directory: Path, result: PlanResult, **kwargs) -> Path:  # noqa: ANN003
    """Render every message of `result` into `directory` (HTML, text, PDF) with an index; returns
    the index's path."""
    written = write_preview(Path(directory), messages(result, **kwargs))
    return written[-1]
