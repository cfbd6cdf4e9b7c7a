"""Each collection wave leaves its summary in the run's note (the Airflow UI shows it on the run).

When a run of a `receivables` DAG ends (success or failure), this listener, which runs where the
run's state changes (the scheduler; `dag.test()` in tests and `make demo`), reads what each
task returned (XCom `return_value`: counts and amounts per stage) and writes the note:

    **Wave 2025-06-30: success**
    - load_ledger: lines 22,099 · quarantined 0 ...
    - plan_collection_actions: actions 412 · per_channel: email 250, letter 40, ...
    - summarise_dispatch: ...

The note is run metadata, and task code may not write the metadata database in Airflow 3: a
listener is the place. A note a person already wrote is kept: the summary is only written
when the run has no note, or when the note is a summary written here before (a re-run).
Formatting is `receivables.pipeline.alerts.wave_note`; nothing here raises into the scheduler.
"""

from __future__ import annotations

import logging
import sys

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

_TAG = "receivables"
_MARK = "**Wave "


def _returns(dag_run, session) -> dict[str, list]:  # noqa: ANN001
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    rows = session.execute(select(XComModel.task_id, XComModel.map_index, XComModel.value).where(
        XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id,
        XComModel.key == "return_value").order_by(XComModel.task_id, XComModel.map_index)).all()
    out: dict[str, list] = {}
    for task_id, _, value in rows:
        try:
            out.setdefault(task_id, []).append(XComModel.deserialize_value(_Row(value)))
        except Exception:  # noqa: BLE001 - a value we cannot read is left out of the note
            continue
    return out


class _Row:
    """What XComModel.deserialize_value reads: an object with `.value`."""

    def __init__(self, value: object):
        self.value = value


def _write_note(dag_run, state: str) -> None:  # noqa: ANN001
    from contextlib import nullcontext

    from airflow.models.dagrun import DagRunNote
    from airflow.utils.session import create_session
    from sqlalchemy.orm import object_session

    from receivables.pipeline.alerts import wave_note

    dag = getattr(dag_run, "dag", None)
    if dag is None or _TAG not in set(getattr(dag, "tags", None) or []):
        return
    bound = object_session(dag_run)   # the scheduler's session; dag.test() hands a detached run
    with nullcontext(bound) if bound is not None else create_session() as session:
        existing = session.get(DagRunNote, dag_run.id)
        if existing is not None and existing.content and not existing.content.startswith(_MARK):
            return   # a person's note stays
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances(state=["failed", "upstream_failed"],
                                                                             session=session)}
        failed = sorted(t for t, s in states.items() if s == "failed")
        not_run = sum(1 for s in states.values() if s == "upstream_failed")
        if not_run:
            failed.append(f"({not_run} task(s) after it not run)")
        business_date = getattr(getattr(dag, "timetable", None), "business_date", None)
        day = business_date(dag_run.data_interval_start) if business_date and dag_run.data_interval_start else None
        note = wave_note(_returns(dag_run, session), state=state, as_of=day,
                         task_order=list(dag.task_ids),   # the order the DAG file defines them: the wave's
                         failed=failed)
        if existing is None:
            existing = DagRunNote(content=note)
            existing.dag_run_id = dag_run.id
            session.add(existing)
        else:
            existing.content = note


@hookimpl
def on_dag_run_success(dag_run, msg: str) -> None:  # noqa: ANN001
    try:
        _write_note(dag_run, "success")
    except Exception:  # noqa: BLE001 - never break the scheduler for a note
        log.exception("the wave's note could not be written")


@hookimpl
def on_dag_run_failed(dag_run, msg: str) -> None:  # noqa: ANN001
    try:
        _write_note(dag_run, "failed")
    except Exception:  # noqa: BLE001
        log.exception("the wave's note could not be written")


class ReceivablesRunNotesPlugin(AirflowPlugin):
    name = "receivables_run_notes"
    listeners = [sys.modules[__name__]]
