"""Every DAG parses without a database or the network, quickly and cheaply, and is well declared."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))

# Runs in a fresh interpreter: any socket or database connection during parsing raises.
_PARSE_IN_ISOLATION = textwrap.dedent("""
    import json, socket, sqlite3, sys
    def refuse(*args, **kwargs):
        raise RuntimeError("I/O at DAG parse time")
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    sqlite3.connect = refuse
    sys.path[:0] = [{plugins!r}, {dags!r}]
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder={dags!r}, load_op_links=False)
    heavy = [m for m in ("pandas", "great_expectations", "sendgrid", "receivables.pipeline", "holidays")
             if m in sys.modules]
    print(json.dumps({{"dags": sorted(bag.dag_ids), "errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                      "heavy": heavy}}))
""")


@pytest.fixture(scope="module")
def isolated_parse() -> dict:
    script = _PARSE_IN_ISOLATION.format(plugins=str(REPO / "plugins"), dags=str(REPO / "dags"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"), load_op_links=False)
    assert not bag.import_errors, bag.import_errors
    return bag


def test_every_dag_file_parses_without_a_database_or_the_network(isolated_parse):
    assert isolated_parse["errors"] == {}
    assert "ar_collections_daily" in isolated_parse["dags"]
    assert len(isolated_parse["dags"]) == len(DAG_FILES)   # one DAG per file


def test_parsing_imports_no_heavy_library(isolated_parse):
    assert isolated_parse["heavy"] == []


def test_every_dag_has_an_owner_tags_docs_and_retries(dagbag):
    for dag in dagbag.dags.values():
        assert dag.dag_id.startswith("ar_"), dag.dag_id
        assert dag.tags, f"{dag.dag_id} has no tags"
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.owner not in ("", "airflow"), f"{dag.dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} never retries"


def test_the_daily_wave_loads_the_ledger_applies_cash_then_scores_plans_and_ages(dagbag):
    dag = dagbag.dags["ar_collections_daily"]   # get_dag() would ask the metadata DB
    assert {t.task_id for t in dag.tasks} >= {"extract_ledger", "validate_ledger", "load_ledger",
                                              "extract_bank_statements", "validate_bank_lines", "match_bank_lines",
                                              "apply_matches", "compute_aging", "score_customers",
                                              "plan_collection_actions", "prepare_dispatch"}
    assert dag.get_task("validate_ledger").upstream_task_ids == {"extract_ledger"}
    assert dag.get_task("load_ledger").upstream_task_ids == {"validate_ledger"}
    assert dag.get_task("validate_bank_lines").upstream_task_ids == {"extract_bank_statements"}
    # Cash is applied before anything downstream (aging, and later planning) sees the open items.
    assert dag.get_task("match_bank_lines").upstream_task_ids == {"load_ledger", "validate_bank_lines"}
    assert dag.get_task("apply_matches").upstream_task_ids == {"match_bank_lines"}
    # Nobody is scored on an invoice paid this morning; the KPIs come last (DESIGN.md's wave).
    # Trained once, scored per customer shard (mapped), ranked and written once.
    assert dag.get_task("train_scoring_model").upstream_task_ids == {"apply_matches"}
    assert dag.get_task("score_customers").upstream_task_ids == {"train_scoring_model"}
    assert type(dag.get_task("score_customers")).__name__.endswith("MappedOperator")
    assert dag.get_task("publish_scores").upstream_task_ids == {"score_customers"}
    # Reminders are planned from today's scores, one mapped task per customer shard (the register
    # files imported once before); the KPIs come after, as in DESIGN.md's wave.
    assert dag.get_task("plan_shards").upstream_task_ids == {"publish_scores"}
    assert dag.get_task("plan_collection_actions").upstream_task_ids == {"plan_shards"}
    assert type(dag.get_task("plan_collection_actions")).__name__.endswith("MappedOperator")
    assert dag.get_task("compute_aging").upstream_task_ids == {"plan_collection_actions"}
    assert type(dag.timetable).__name__ == "BusinessDayTimetable"
    assert dag.catchup is False and dag.max_active_runs == 1


def test_the_daily_wave_dispatches_each_channel_in_mapped_batches_after_planning_and_approvals(dagbag):
    dag = dagbag.dags["ar_collections_daily"]
    assert dag.get_task("prepare_dispatch").upstream_task_ids == {"plan_collection_actions"}
    for channel, task_id, pool in (("email", "send_emails", "sendgrid"), ("sms", "send_sms", "twilio"),
                                   ("letter", "print_letters", "print"), ("call", "publish_call_list", "default_pool")):
        task = dag.get_task(task_id)
        assert task.upstream_task_ids == {f"{channel}_batches"} and task.pool == pool
        assert type(task).__name__.endswith("MappedOperator")
    # letters (formal notices among them) are counted only once the approver has answered
    assert dag.get_task("letter_batches").upstream_task_ids == {"prepare_dispatch", "record_approvals"}
    assert dag.get_task("approve_formal_notices").upstream_task_ids == {"describe_approvals", "anything_to_approve"}
    assert dag.get_task("approve_formal_notices").defaults == ["Reject"]
    assert dag.get_task("summarise_dispatch").trigger_rule == "all_done"


def test_the_daily_wave_computes_the_kpis_last_once_aging_and_dispatch_are_done(dagbag):
    dag = dagbag.dags["ar_collections_daily"]
    task = dag.get_task("compute_kpis")
    assert task.upstream_task_ids == {"summarise_dispatch", "compute_aging"}
    # dispatch tasks skipped (a backfill, nothing to send) must not skip the KPIs; a failure must stop them
    assert task.trigger_rule == "none_failed"
    assert not task.downstream_task_ids
