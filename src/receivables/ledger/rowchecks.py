"""Row checks for tabular sources: the first failure of a row is its quarantine reason.

    checks = RowChecks(frame.index)
    checks.add(bad_amount, "amount", "bad_amount", lambda m: "'" + raw[m] + "' is not an amount")
    checks.add(bad_date, "invoice_date", "bad_date", "the date is not a date")
    quarantine = checks.records(frame, "export.csv")   # one record per failing row

Later failures of the same row are listed in its reason, so a clerk fixes the line in one go.
"""

from __future__ import annotations

import pandas as pd


class RowChecks:
    """Row checks in order: the first failure of a row is its quarantine reason, later ones
    are listed in the reason so a clerk can fix the line in one go."""

    def __init__(self, index: pd.Index):
        self.field = pd.Series("", index=index, dtype=object)
        self.code = pd.Series("", index=index, dtype=object)
        self.reason = pd.Series("", index=index, dtype=object)
        self.also = pd.Series("", index=index, dtype=object)
        self.failed = pd.Series(False, index=index)

    def add(self, mask: pd.Series, field_name: str, code: str, reason) -> None:
        """`reason`: a sentence, or a callable giving the sentences for the rows of a mask."""
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        sentences = reason(mask) if callable(reason) else pd.Series(reason, index=mask.index)[mask]
        first = mask & ~self.failed
        later = mask & self.failed
        self.field[first] = field_name
        self.code[first] = code
        self.reason[first] = sentences[first[mask]]
        self.also[later] = self.also[later] + "; " + sentences[later[mask]]
        self.failed |= mask

    def records(self, frame: pd.DataFrame, source: str, prefix: pd.Series | None = None) -> pd.DataFrame:
        """Quarantine records of the failing rows; `prefix` (per row) starts each reason."""
        bad = self.failed
        also = self.also[bad]
        reason = self.reason[bad] + also.where(also == "", " (also" + also.str[1:] + ")")
        if prefix is not None:
            reason = prefix[bad] + reason
        return pd.DataFrame({
            "source_file": source,
            "line_no": frame.loc[bad, "line_no"],
            "field": self.field[bad],
            "reason_code": self.code[bad],
            "reason": reason,
            "raw": frame.loc[bad, "raw"],
        })
