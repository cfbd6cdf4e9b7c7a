"""Finance ops' failure emails and the run's note: who gets them, what they say, how long."""

from __future__ import annotations

import datetime as dt
import email
import email.policy

from receivables.pipeline.alerts import NOTE_LIMIT, alert_recipients, failure_alert, send_alert, wave_note


def _lookup(values: dict):
    return lambda key: values.get(key)


def test_alert_recipients_are_read_from_a_comma_or_space_separated_list_each_once():
    lookup = _lookup({"receivables_alert_recipients": "credit@acme.example, ar@acme.example;credit@acme.example  x"})
    assert alert_recipients(lookup) == ["credit@acme.example", "ar@acme.example"]
    assert alert_recipients(_lookup({})) == []


def test_a_failure_alert_names_the_task_the_run_the_business_date_and_the_error_first_line():
    error = ValueError("ledger.txt line 12, field Debit: '12,3x' is not an amount\nTraceback noise")
    [message] = failure_alert(dag_id="ar_collections_daily", run_id="scheduled__2025-06-30", task_id="load_ledger",
                              map_index=-1, try_number=3, as_of=dt.date(2025, 6, 30), error=error,
                              log_url="http://airflow.local/log", recipients=["credit@acme.example"])
    assert message.subject == "[receivables] ar_collections_daily 2025-06-30: load_ledger failed"
    assert "ValueError: ledger.txt line 12, field Debit: '12,3x' is not an amount" in message.text
    assert "Traceback noise" not in message.text
    assert "http://airflow.local/log" in message.text
    assert message.to == "credit@acme.example" and not message.courtesy


def test_a_failure_alert_of_a_mapped_task_names_its_part_and_escapes_the_error_in_html():
    [message] = failure_alert(dag_id="d", run_id="r", task_id="send_emails", map_index=1, try_number=1, as_of=None,
                              error="<b>boom</b>", log_url=None, recipients=["a@b.example"])
    assert "send_emails[1]" in message.subject and "no business date" in message.subject
    assert "&lt;b&gt;boom&lt;/b&gt;" in message.html


def test_an_alert_without_a_provider_key_is_written_as_an_eml_file_per_recipient(tmp_path):
    messages = failure_alert(dag_id="d", run_id="manual__1", task_id="t", map_index=-1, try_number=1,
                             as_of=dt.date(2025, 6, 30), error="boom", log_url=None,
                             recipients=["a@acme.example", "b@acme.example"])
    accepted = send_alert(messages, api_key=None, host=None, from_email="ar@acme.example", from_name="AR",
                          outbox=tmp_path)
    files = sorted(tmp_path.glob("*.eml"))
    assert accepted == 2 and len(files) == 2
    parsed = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert parsed["To"] == "a@acme.example" and "t failed" in parsed["Subject"]


def test_an_alert_goes_through_sendgrid_when_a_key_is_configured():
    from doubles.sendgrid_api import SendGridDouble

    messages = failure_alert(dag_id="d", run_id="r", task_id="t", map_index=-1, try_number=2,
                             as_of=dt.date(2025, 6, 30), error="boom", log_url=None, recipients=["ops@acme.example"])
    with SendGridDouble() as double:
        accepted = send_alert(messages, api_key=double.api_key, host=double.url, from_email="ar@acme.example",
                              from_name="AR", outbox=None)
        [request] = double.accepted
    assert accepted == 1
    assert request["body"]["personalizations"][0]["to"] == [{"email": "ops@acme.example"}]


def test_the_note_lists_each_stage_counts_and_amounts_in_the_wave_order():
    returns = {
        "load_ledger": [{"as_of": "2025-06-30", "sources": [{"source_file": "a.txt", "rows_loaded": 22000},
                                                            {"source_file": "b.txt", "rows_loaded": 99}]}],
        "compute_aging": [{"open_items": 595, "buckets_minor": {"EUR": {"not_due": 100_00, "d1_30": 50_50}}}],
        "send_emails": [{"sent": 10, "failed": 0, "provider": "file"}, {"sent": 12, "failed": 1, "provider": "file"}],
        "plan_collection_actions": [{"actions": 42, "per_channel": {"email": 30, "letter": 12}}],
    }
    note = wave_note(returns, state="success", as_of=dt.date(2025, 6, 30),
                     task_order=["load_ledger", "plan_collection_actions", "compute_aging", "send_emails", "unused"])
    lines = note.splitlines()
    assert lines[0] == "**Wave 2025-06-30: success**"
    assert lines[1] == "- load_ledger: sources 2, rows_loaded 22,099"
    assert lines[2] == "- plan_collection_actions: actions 42 · per_channel: email 30, letter 12"
    assert lines[3] == "- compute_aging: open_items 595 · buckets 150.50 EUR"
    assert lines[4] == "- send_emails: sent 10 · failed 0 · provider file | sent 12 · failed 1 · provider file"
    assert len(lines) == 5


def test_a_failed_wave_note_names_the_failed_tasks_and_never_exceeds_airflow_note_size():
    returns = {f"task_{i}": [{"count": i, "detail": {"a": 1, "b": 2, "c": 3}}] for i in range(100)}
    note = wave_note(returns, state="failed", as_of=dt.date(2025, 6, 30), task_order=list(returns),
                     failed=["load_ledger"])
    assert note.startswith("**Wave 2025-06-30: failed**\nFailed: load_ledger")
    assert len(note) <= NOTE_LIMIT and note.endswith("…")
