"""Great Expectations 1.x, called in-process on a pandas DataFrame, with row-level results.

    >>> rules = [Rule(gxe.ExpectColumnValuesToNotBeNull(column="account"), "error",
    ...               "missing_field", "CompteNum is empty")]            # doctest: +SKIP
    >>> results = run_rules(frame, rules, suite_name="ledger")            # doctest: +SKIP
    >>> results[0].failed_line_nos                                        # doctest: +SKIP
    [17, 245]

Each `Rule` pairs a GX expectation with a severity (`error`: the rows are quarantined;
`warning`: the rows load and the finding is reported) and a reason a clerk can read. The frame
must carry a `line_no` column: GX reports the failing rows by it
(`unexpected_index_column_names`), so every finding points at a line of the source file.
GX's Airflow provider does not install beside Airflow 3.3 (structlog pins), so GX runs here,
directly, inside the task; it is imported lazily because it takes seconds to import.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Rule:
    expectation: Any            # a great_expectations.expectations.Expectation
    severity: str               # 'error' or 'warning'
    reason_code: str
    reason: str                 # what a clerk reads; names the field in the source's words
    field: str = ""


@dataclass
class RuleResult:
    rule: Rule
    success: bool
    element_count: int
    unexpected_count: int
    failed_line_nos: list = field(default_factory=list)   # source lines (or customer ids)
    sample_values: list[Any] = field(default_factory=list)

    @property
    def name(self) -> str:
        return type(self.rule.expectation).__name__


def expectations():
    """The `great_expectations.expectations` module (heavy import, deferred)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations.expectations as gxe

    return gxe


CHUNK_ROWS = 500_000   # GX copies the frame per metric: a chunk bounds that copy, not the frame


def run_rules(frame: pd.DataFrame, rules: list[Rule], *, suite_name: str,
              index_column: str = "line_no", chunk_rows: int | None = None) -> list[RuleResult]:
    """Validate `frame` against `rules` with an ephemeral GX context; failing rows are reported
    by `index_column` (the source line, or the customer id).

    The rules look at one row at a time (whole-entry facts are columns of the frame), so the
    frame is validated in slices of `chunk_rows` (default CHUNK_ROWS) and the results added up:
    GX materializes a copy of the frame for each metric it computes, which at 10M ledger lines
    would be tens of gigabytes, and per slice stays a few hundred megabytes."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # In memory, and without the temporary Data Docs folder GX would otherwise leave per run
    # (we render our own report).
    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)   # no tqdm noise in task logs
    batch = (context.data_sources.add_pandas(name=f"{suite_name}_source")
             .add_dataframe_asset(name=f"{suite_name}_frame")
             .add_batch_definition_whole_dataframe("whole_frame"))
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for rule in rules:
        suite.add_expectation(rule.expectation)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite_name}_validation", data=batch, suite=suite))
    chunk_rows = max(chunk_rows or CHUNK_ROWS, 1)
    results = [RuleResult(rule=rule, success=True, element_count=0, unexpected_count=0) for rule in rules]
    for start in range(0, max(len(frame), 1), chunk_rows):
        chunk = frame.iloc[start:start + chunk_rows]
        outcome = definition.run(
            batch_parameters={"dataframe": chunk},
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [index_column],
                           "partial_unexpected_count": 5, "return_unexpected_index_query": False},
        )
        # GX returns results in suite order; match them back to rules by expectation id.
        by_id = {er.expectation_config.id: er for er in outcome.results}
        for result, expectation in zip(results, suite.expectations):
            er = by_id[expectation.id]
            if er.exception_info and er.exception_info.get("raised_exception"):
                raise RuntimeError(f"expectation {result.name} failed to run: "
                                   f"{er.exception_info.get('exception_message')}")
            res = er.result or {}
            index_list = res.get("unexpected_index_list") or []
            line_nos = sorted({item[index_column] for item in index_list if isinstance(item, dict)})
            result.success = result.success and bool(er.success)
            result.element_count += int(res.get("element_count") or len(chunk))
            result.unexpected_count += int(res.get("unexpected_count") or 0)
            result.failed_line_nos += [int(x) if index_column == "line_no" else x for x in line_nos]
            result.sample_values += list(res.get("partial_unexpected_list") or [])[:5 - len(result.sample_values)]
    for result in results:
        result.failed_line_nos = sorted(set(result.failed_line_nos))
    return results
