"""The validation report: one readable HTML page per source and business date.

Rendered from the GX results and the quarantine with a sandboxed, autoescaping Jinja
environment (source values such as labels end up in the page, so they are escaped).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from receivables.validation.ledger import ValidationOutcome

_ENV = SandboxedEnvironment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(default=True), undefined=StrictUndefined,
)
MAX_ROWS = 500


def write_report(outcome: ValidationOutcome, as_of: dt.date, path: Path, suite: str = "ledger_lines") -> Path:
    import great_expectations as gx

    results = [{
        "name": r.name, "reason": r.rule.reason, "severity": r.rule.severity, "success": r.success,
        "unexpected_count": r.unexpected_count, "first_lines": ", ".join(map(str, r.failed_line_nos[:10])),
    } for r in outcome.results]
    quarantine = outcome.quarantine.head(MAX_ROWS)[["line_no", "field", "reason"]].to_dict("records")
    html = _ENV.get_template("validation_report.html.j2").render(
        source_file=outcome.source_file, as_of=as_of.isoformat(), gx_version=gx.__version__, suite=suite,
        success=outcome.success and len(outcome.quarantine) == 0, rows_read=outcome.rows_read,
        rows_valid=len(outcome.lines), rows_quarantined=len(outcome.quarantine), results=results,
        findings=outcome.findings, quarantine=quarantine,
        quarantine_truncated=len(outcome.quarantine) > MAX_ROWS,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
