"""The outbox: every planned action is sent exactly once, or says why not.

    enqueue(conn, actions, as_of, now=now)                  # today's plan -> pending rows (once per key)
    keys = claim(conn, "email", part=(0, 4), now=now)       # pending -> sending, attempts + 1, committed
    ...                                                     # hand the messages to the provider
    mark_sent(conn, accepted, now=now)                      # sending -> sent, provider message id
    mark_failed(conn, {key: "400: invalid email"}, now=now) # sending -> failed, with the reason

One row per `action_key` (the planner's key: the same customer, step, channel and dunning cycle
give the same key on every re-plan and re-run), never replaced by a later plan: the row, not the
day's plan, says whether a message went out. States:

    pending     waiting to be sent (reason '' ) or for something (reason: 'awaiting approval', a hold)
    sending     claimed by a dispatch task and committed *before* the provider is called
    sent        the provider accepted it (its message id kept); final unless a bounce comes back
    failed      the provider refused it, with its reason (a 4xx on that message, retries exhausted)
    suppressed  nobody was contacted on purpose: kill switch, a run for a past date, a rejection,
                an address known to bounce, a customer who said STOP
    bounced     sent, then reported undeliverable (Event Webhook); a fallback letter replaces it

Exactly once, and the crash between the provider's acceptance and our commit
----------------------------------------------------------------------------
A message is only handed to a provider from a 'sending' row whose claim was committed first, so
a retried or re-run task never sends a 'pending' row twice and never sends a 'sent' row again.
What it cannot know alone is the fate of rows left in 'sending' by a task killed mid-flight:
the provider may or may not have accepted them. Those rows are *in doubt*, and the policy is:

1. the action key travels with the message (SendGrid `custom_args.action_key`, the Twilio
   status callback, the print manifest), so the provider's own record names it;
2. before sending anything new, a dispatch task reconciles its in-doubt rows against what the
   provider reported (SendGrid Event Webhook events carrying the key, Twilio's message list):
   found -> 'sent' with the provider's id, never resent;
3. not found -> the row stays 'sending' and the task fails loudly after its other work
   ("N messages in doubt"), so Airflow retries it later, when the provider's events have
   arrived. Nothing in doubt is resent automatically: a duplicate formal notice is worse than a
   late one. A credit manager releases a row whose message surely never left
   (`receivables outbox release KEY`: back to pending) or confirms it (`--sent`).
4. where the hand-off is our own transaction (letters into a print batch, the call list), the
   rows move to 'sent' in the same transaction that writes the batch: no doubt can arise, and a
   'sending' row found there was never handed over, so it is released.

The mapped dispatch tasks split a channel's rows by `batch`, a hash bucket of the key (0-4095)
fixed at enqueue: task i of n owns the rows with batch % n == i, whatever n is on a given day.

Money and personal data never go through here: rows carry keys, states and provider ids; the
message is rendered from the plan by the channel.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import pandas as pd
from sqlalchemy import Connection, Integer, and_, bindparam, func, select, update

from receivables.warehouse.db import bulk_insert
from receivables.warehouse.schema import dispatch_approvals, dispatch_outbox

STATES = ("pending", "sending", "sent", "failed", "suppressed", "bounced")
FINAL = ("sent", "failed", "suppressed", "bounced")
BUCKETS = 4096

# The action channels each dispatch task serves: every printed channel goes into the print batch.
DISPATCHERS = {"email": ("email",), "sms": ("sms",),
               "letter": ("letter", "statement", "formal_notice", "agency_handoff"), "call": ("call",)}
AWAITING_APPROVAL = "awaiting approval"

OUTBOX_COLUMNS = [c.name for c in dispatch_outbox.columns]


def dispatcher_of(channel: str) -> str:
    for dispatcher, channels in DISPATCHERS.items():
        if channel in channels:
            return dispatcher
    raise ValueError(f"no dispatcher for channel {channel!r}")


def bucket(action_key: str) -> int:
    return int(str(action_key)[:3], 16) % BUCKETS


def _part(dispatcher: str, part: tuple[int, int]):  # noqa: ANN202
    index, count = part
    if not 0 <= index < count:
        raise ValueError(f"batch {index} of {count}")
    return and_(dispatch_outbox.c.channel.in_(DISPATCHERS[dispatcher]), (dispatch_outbox.c.batch % count) == index)


def enqueue(conn: Connection, actions: pd.DataFrame, as_of: dt.date, *, now: dt.datetime,
            suppress: str | None = None) -> dict:
    """Add the plan's actions not in the outbox yet; returns {'new', 'known'}.

    A new action is 'pending', with reason 'awaiting approval' when its step needs approval and
    its hold reason when it has one; with `suppress` (the kill switch, a past-date run) it is
    'suppressed' with that reason instead: recorded, and never sent later either. Actions
    already in the outbox are left as they are (sent stays sent), except that a pending row
    takes the plan's current hold reason (a hold lifted by a re-plan releases it)."""
    if actions.empty:
        return {"new": 0, "known": 0}
    keys = actions["action_key"].astype(str)
    known = set()
    for chunk in range(0, len(keys), 10_000):
        part = keys.iloc[chunk:chunk + 10_000].tolist()
        known.update(conn.execute(select(dispatch_outbox.c.action_key)
                                  .where(dispatch_outbox.c.action_key.in_(part))).scalars())
    decision = keys.map(_decisions(conn, keys[actions["requires_approval"].astype(bool)].tolist()))
    hold = actions["hold_reason"].fillna("").astype(str)
    awaiting = actions["requires_approval"].astype(bool) & decision.ne("approved")
    reason = hold.where(hold != "", awaiting.map({True: AWAITING_APPROVAL, False: ""}))
    rejected = decision.eq("rejected")
    state = pd.Series("pending", index=actions.index).where(~rejected, "suppressed")
    reason = reason.where(~rejected, "rejected at approval")
    if suppress:
        state[:] = "suppressed"
        reason[:] = suppress
    rows = pd.DataFrame({
        "action_key": keys, "as_of": pd.Timestamp(as_of), "customer_id": actions["customer_id"].astype(str),
        "channel": actions["channel"].astype(str), "step_id": actions["step_id"].astype(str),
        "batch": keys.map(bucket).astype("int64"), "state": state, "reason": reason,
        "attempts": 0, "provider": "", "provider_message_id": "", "recipient": "", "units": pd.NA,
        "parent_action_key": actions.get("parent_action_key", pd.Series("", index=actions.index)).astype(str),
        "send_at": pd.to_datetime(actions["send_at"], utc=True), "created_at": now, "updated_at": now,
        "sent_at": pd.NaT})
    is_new = ~keys.isin(known)
    bulk_insert(conn, dispatch_outbox, rows[is_new].astype({"units": "Int64"}))
    still = rows[~is_new & (state == "pending")]
    if not still.empty:
        conn.execute(update(dispatch_outbox)
                     .where(dispatch_outbox.c.action_key == bindparam("key"), dispatch_outbox.c.state == "pending")
                     .values(reason=bindparam("new_reason"), updated_at=now),
                     [{"key": k, "new_reason": r} for k, r in zip(still["action_key"], still["reason"])])
    return {"new": int(is_new.sum()), "known": int((~is_new).sum())}


def _decisions(conn: Connection, keys: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in range(0, len(keys), 10_000):
        out.update(conn.execute(select(dispatch_approvals.c.action_key, dispatch_approvals.c.decision)
                                .where(dispatch_approvals.c.action_key.in_(keys[chunk:chunk + 10_000]))).all())
    return out


def record_decisions(conn: Connection, decisions: pd.DataFrame, *, now: dt.datetime) -> dict:
    """Approvals (action_key, as_of, decision approved|rejected, decided_by, note): kept in
    `dispatch_approvals` (first decision wins: a re-run of the approval task changes nothing);
    an approved pending row is released, a rejected one suppressed with who rejected it."""
    if decisions.empty:
        return {"approved": 0, "rejected": 0}
    seen = set(_decisions(conn, decisions["action_key"].astype(str).tolist()))
    fresh = decisions[~decisions["action_key"].isin(seen)].drop_duplicates("action_key")
    bulk_insert(conn, dispatch_approvals, fresh.assign(decided_at=now)[[c.name for c in dispatch_approvals.columns]])
    for decision, state in (("approved", "pending"), ("rejected", "suppressed")):
        chosen = fresh[fresh["decision"] == decision]
        if chosen.empty:
            continue
        conn.execute(update(dispatch_outbox)
                     .where(dispatch_outbox.c.action_key == bindparam("key"), dispatch_outbox.c.state == "pending",
                            dispatch_outbox.c.reason == AWAITING_APPROVAL)
                     .values(state=state, reason=bindparam("new_reason"), updated_at=now),
                     [{"key": k, "new_reason": "" if decision == "approved" else f"rejected by {who}" + (f": {n}" if n else "")}
                      for k, who, n in zip(chosen["action_key"], chosen["decided_by"], chosen["note"])])
    return {"approved": int((fresh["decision"] == "approved").sum()),
            "rejected": int((fresh["decision"] == "rejected").sum())}


def awaiting_approval(conn: Connection) -> pd.DataFrame:
    return pd.read_sql(select(dispatch_outbox).where(dispatch_outbox.c.state == "pending",
                                                     dispatch_outbox.c.reason == AWAITING_APPROVAL)
                       .order_by(dispatch_outbox.c.as_of, dispatch_outbox.c.action_key), conn)


def claim(conn: Connection, dispatcher: str, *, part: tuple[int, int] = (0, 1), now: dt.datetime,
          limit: int | None = None, until: dt.datetime | None = None) -> pd.DataFrame:
    """Move ready rows of this task's part (pending, nothing awaited; `send_at` <= `until` when
    given) to 'sending', attempts + 1; returns them. The caller commits before calling the
    provider: that commit is what makes a retry skip them."""
    query = (select(dispatch_outbox).where(_part(dispatcher, part), dispatch_outbox.c.state == "pending",
                                           dispatch_outbox.c.reason == "")
             .order_by(dispatch_outbox.c.action_key))
    if until is not None:
        query = query.where(dispatch_outbox.c.send_at <= until)
    if limit is not None:
        query = query.limit(limit)
    rows = read_frame(conn, query)
    if rows.empty:
        return rows
    _move(conn, rows["action_key"], "pending", "sending", now=now, attempts=True)
    rows["state"] = "sending"
    rows["attempts"] += 1
    return rows


def read_frame(conn: Connection, query) -> pd.DataFrame:  # noqa: ANN001
    """`pd.read_sql(query, conn)`: the same frame (pandas builds it from the rows the same way),
    tz-aware columns converted to UTC as read_sql does but without its per-call cache of
    parsed values, which boxes every value of each such column to find out whether to cache
    (a fifth of the cost of reading thousands of rows)."""
    result = conn.execute(query)
    columns = list(result.keys())
    data = result.fetchall()
    if not data:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame.from_records([tuple(row) for row in data], columns=columns, coerce_float=True)
    for position, name in enumerate(columns):
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame.isetitem(position, pd.to_datetime(frame[name], utc=True, cache=False))
    return frame


def in_doubt(conn: Connection, dispatcher: str, *, part: tuple[int, int] = (0, 1)) -> pd.DataFrame:
    """Rows a killed task left in 'sending': the provider may have accepted them."""
    return pd.read_sql(select(dispatch_outbox).where(_part(dispatcher, part), dispatch_outbox.c.state == "sending")
                       .order_by(dispatch_outbox.c.action_key), conn)


def _move(conn: Connection, keys: Iterable[str], source: str, target: str, *, now: dt.datetime,
          attempts: bool = False, values: Iterable[Mapping] | None = None) -> int:
    """source -> target for each key (only rows still in `source`: a transition happens once)."""
    keys = [str(k) for k in keys]
    if not keys:
        return 0
    params = [dict(v) for v in values] if values is not None else [{} for _ in keys]
    extra = sorted({name for p in params for name in p})
    return _update_each(conn, keys, source, target, now=now, attempts=attempts,
                        columns={name: [p.get(name) for p in params] for name in extra})


def _update_each(conn: Connection, keys: list[str], source: str, target: str, *, now: dt.datetime,
                 attempts: bool = False, columns: Mapping[str, list] | None = None) -> int:
    """`_move` with the new values as columns (a list of one value per key). One UPDATE, run by
    the driver's executemany on its own rows of parameters: the statement is compiled once and
    each value converted as SQLAlchemy would (its column type's bind processor, for this
    dialect), but without SQLAlchemy's per-row parameter handling, which costs more than the
    database's own work for thousands of rows."""
    if not keys:
        return 0
    columns = dict(columns or {})
    fixed = {"p_target": target, "p_now": now, "p_source": source, "p_one": 1}
    statement = (update(dispatch_outbox)
                 .where(dispatch_outbox.c.action_key == bindparam("key"),
                        dispatch_outbox.c.state == bindparam("p_source", type_=dispatch_outbox.c.state.type))
                 .values(state=bindparam("p_target", type_=dispatch_outbox.c.state.type),
                         updated_at=bindparam("p_now", type_=dispatch_outbox.c.updated_at.type),
                         **{name: bindparam(f"v_{name}", type_=dispatch_outbox.c[name].type) for name in columns},
                         **({"attempts": dispatch_outbox.c.attempts + bindparam("p_one", type_=Integer())}
                            if attempts else {})))
    dialect = conn.dialect
    compiled = statement.compile(dialect=dialect)

    def converted(name: str, items: list) -> list:
        processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            return items
        done: dict[int, object] = {}      # each value object converted once (`now` on every row)
        return [done[id(v)] if id(v) in done else done.setdefault(id(v), processor(v)) for v in items]

    per_row = {"key": converted("key", keys)}
    per_row.update({f"v_{name}": converted(f"v_{name}", items) for name, items in columns.items()})
    constant = {name: converted(name, [value])[0] for name, value in fixed.items() if name in compiled.binds}
    names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
    unknown = [name for name in names if name not in per_row and name not in constant]
    if unknown:
        raise AssertionError(f"unbound parameters {unknown}")
    rows = [per_row[name] if name in per_row else [constant[name]] * len(keys) for name in names]
    parameters = list(zip(*rows)) if compiled.positional else [dict(zip(names, row)) for row in zip(*rows)]
    return conn.exec_driver_sql(compiled.string, parameters).rowcount


def mark_sent(conn: Connection, sent: pd.DataFrame, *, now: dt.datetime, source: str = "sending") -> int:
    """sending -> sent; `sent` has action_key, provider, provider_message_id, recipient and
    optionally units."""
    size = len(sent)

    def column(name: str) -> list:
        return sent[name].tolist() if name in sent.columns else [None] * size

    return _update_each(conn, [str(k) for k in sent["action_key"].tolist()], source, "sent", now=now, columns={
        "provider": sent["provider"].tolist(),
        "provider_message_id": [str(v or "") for v in column("provider_message_id")],
        "recipient": [str(v or "") for v in column("recipient")],
        "reason": [str(v or "") for v in column("reason")],
        "units": [None if pd.isna(v) else int(v) for v in column("units")],
        "sent_at": [now] * size})


def mark_failed(conn: Connection, reasons: Mapping[str, str], *, now: dt.datetime, provider: str = "") -> int:
    """sending -> failed with a reason a clerk can read."""
    return _move(conn, reasons.keys(), "sending", "failed", now=now,
                 values=[{"reason": r, "provider": provider} for r in reasons.values()])


def suppress(conn: Connection, reasons: Mapping[str, str], *, now: dt.datetime, source: str = "pending") -> int:
    return _move(conn, reasons.keys(), source, "suppressed", now=now,
                 values=[{"reason": r} for r in reasons.values()])


def release(conn: Connection, keys: Iterable[str], *, now: dt.datetime) -> int:
    """sending -> pending: the message surely never left (a credit manager's decision, or a
    hand-off that is our own transaction)."""
    return _move(conn, keys, "sending", "pending", now=now)


def mark_bounced(conn: Connection, reasons: Mapping[str, str], *, now: dt.datetime) -> int:
    return _move(conn, reasons.keys(), "sent", "bounced", now=now, values=[{"reason": r} for r in reasons.values()])


def read_outbox(conn: Connection, *, as_of: dt.date | None = None, keys: Iterable[str] | None = None) -> pd.DataFrame:
    query = select(dispatch_outbox).order_by(dispatch_outbox.c.action_key)
    if as_of is not None:
        query = query.where(dispatch_outbox.c.as_of == as_of)
    if keys is not None:
        query = query.where(dispatch_outbox.c.action_key.in_(list(keys)))
    return pd.read_sql(query, conn)


def state_counts(conn: Connection, as_of: dt.date | None = None) -> dict:
    """{channel: {state: count}} (of the actions enqueued on `as_of` when given)."""
    query = (select(dispatch_outbox.c.channel, dispatch_outbox.c.state, func.count())
             .group_by(dispatch_outbox.c.channel, dispatch_outbox.c.state))
    if as_of is not None:
        query = query.where(dispatch_outbox.c.as_of == as_of)
    out: dict = {}
    for channel, state, count in conn.execute(query):
        out.setdefault(channel, {})[state] = int(count)
    return out
