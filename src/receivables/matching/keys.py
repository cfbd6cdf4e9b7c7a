"""Normalized keys for references and names, computed column-wise.

    invoice "FA2024-000123"  -> keys FA2024000123 (full), FA2024123 (zeros), 2024123 (no prefix)
    remittance "VIR FA 2024 123 MERCI" -> windows ... "FA2024123" ... -> matches "zeros"
    payer "Boulangerie Martin S.A.R.L." -> "BOULANGERIE MARTIN" (legal form, accents, case, order)

A reference key is built from alphanumeric tokens: upper-cased, digit-only tokens without their
leading zeros, concatenated. Text is cut into the same tokens, and every run of 1 to 3
consecutive tokens is a candidate window, so "FA 2024-000123", "FA2024/123" and "fa2024000123"
all meet the invoice's keys in one hash join, whatever the separators.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

LEGAL_FORMS = frozenset("""
    SARL SAS SASU SA EURL SNC SCI SCOP SCA SELARL SELAS EI EIRL SEM GIE ASSOCIATION ETS ETABLISSEMENTS
    GMBH AG KG OHG UG EK KGAA MBH CO COMPANY CORP INC LTD LLC LLP PLC LIMITED
    BV NV VOF CV BVBA SPRL SRL SPA SNC SAS SL SLU SCCL SOC STE SOCIETE
""".split())
MIN_WINDOW_KEY = 4          # windows shorter than this are not references
MAX_WINDOW_TOKENS = 3


def strip_accents(series: pd.Series) -> pd.Series:
    distinct = pd.unique(series)
    plain = {s: unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii") for s in distinct}
    return series.map(plain)


def _tokens(text: pd.Series) -> pd.DataFrame:
    """(row, position, token) for every alphanumeric token of every text, leading zeros of
    all-digit tokens removed."""
    if text.empty:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "token": pd.Series(dtype=object),
                             "zeros": pd.Series(dtype=object), "pos": pd.Series(dtype="int64")})
    found = strip_accents(text.fillna("").astype(str)).str.upper().str.findall(r"[A-Z0-9]+")
    exploded = found.explode().dropna()
    frame = pd.DataFrame({"row": exploded.index.to_numpy(), "token": exploded.to_numpy(dtype=object)})
    if frame.empty:
        return _tokens(text.iloc[:0])
    digits = frame["token"].str.isdigit()
    frame["zeros"] = frame["token"].where(~digits, frame["token"].str.lstrip("0").replace("", "0"))
    frame["pos"] = frame.groupby("row").cumcount()
    return frame


def reference_keys(ids: pd.Series) -> pd.DataFrame:
    """For each id (index kept as `row`): its keys, by kind: full, zeros, noprefix.

    Column-wise regexes, no per-row Python: the same tokens `_tokens` cuts (alphanumeric runs,
    upper case, all-digit runs without their leading zeros), concatenated."""
    text = ids.fillna("").astype(str)
    if text.str.contains(r"[^\x00-\x7f]", regex=True).any():
        text = strip_accents(text)
    upper = text.str.upper()
    full = upper.str.replace(r"[^A-Z0-9]+", "", regex=True)
    # An all-digit token loses its leading zeros (one zero stays for a token of zeros).
    zeros = upper.str.replace(r"(?<![A-Z0-9])0+(?=\d*(?![A-Z0-9]))(?=\d)", "", regex=True)
    zeros = zeros.str.replace(r"[^A-Z0-9]+", "", regex=True)
    frames = [pd.DataFrame({"row": ids.index, "key": full.to_numpy(), "kind": "full"}),
              pd.DataFrame({"row": ids.index, "key": zeros.to_numpy(), "kind": "zeros"})]
    for spelled in (full, zeros):   # the number without its letter prefix ("FA")
        frames.append(pd.DataFrame({"row": ids.index, "key": spelled.str.replace(r"^[A-Z]+", "", regex=True).to_numpy(),
                                    "kind": "noprefix"}))
    keys = pd.concat(frames, ignore_index=True)
    keys = keys[(keys["key"].str.len() >= MIN_WINDOW_KEY)
                & ~((keys["kind"] == "noprefix") & (keys["key"].str.len() < 6))]
    return keys.drop_duplicates(["row", "key"], keep="first")


def text_windows(text: pd.Series) -> pd.DataFrame:
    """(row, key, span) for every window of 1..3 consecutive tokens of each text, in both the
    as-written and the zeros-stripped spelling; windows without a digit are dropped."""
    tokens = _tokens(text)
    by_row = tokens.groupby("row")
    out = []
    for spelling in ("token", "zeros"):
        window = tokens[spelling].copy()
        valid = np.ones(len(tokens), dtype=bool)
        for span in range(1, MAX_WINDOW_TOKENS + 1):
            if span > 1:   # append the next token of the same text
                following = by_row[spelling].shift(-(span - 1))
                valid &= following.notna().to_numpy()
                window = window + following.fillna("")
            out.append(pd.DataFrame({"row": tokens["row"].to_numpy()[valid], "key": window.to_numpy()[valid],
                                     "span": span}))
    windows = pd.concat(out, ignore_index=True)
    windows = windows[(windows["key"].str.len() >= MIN_WINDOW_KEY) & windows["key"].str.contains(r"\d", regex=True)]
    return windows.drop_duplicates(["row", "key"])


def normalize_names(names: pd.Series) -> pd.Series:
    """Company names compared on substance: accents, case, punctuation, legal forms, order."""
    text = strip_accents(names.fillna("").astype(str)).str.upper().str.replace(r"[^A-Z0-9 ]+", " ", regex=True)
    distinct = pd.unique(text)
    normal = {}
    for value in distinct:   # per distinct name, not per row: payer names repeat
        words = sorted(w for w in value.split() if w not in LEGAL_FORMS and len(w) > 1)
        normal[value] = " ".join(words)
    return text.map(normal)


def normalize_account(accounts: pd.Series) -> pd.Series:
    return accounts.fillna("").astype(str).str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
