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
import pyarrow as pa
import pyarrow.compute as pc

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


def _arrow_tokens(text: pd.Series) -> tuple[pa.Array, np.ndarray, pa.Array]:
    """Alphanumeric tokens of each text, in Arrow: (tokens, row of each token, zeros spelling).

    The same tokens as `_tokens`: upper case, accents stripped, runs of [A-Z0-9]; an all-digit
    token without its leading zeros ("000" stays "0")."""
    clean = text.fillna("").astype(str)
    if clean.str.contains(r"[^\x00-\x7f]", regex=True).any():
        clean = strip_accents(clean)
    upper = pc.utf8_upper(pa.array(clean.to_numpy(dtype=object), type=pa.string()))
    lists = pc.split_pattern_regex(upper, "[^A-Z0-9]+")
    tokens = pc.list_flatten(lists)
    rows = pc.list_parent_indices(lists).to_numpy()
    keep = pc.not_equal(tokens, "")
    tokens, rows = tokens.filter(keep), rows[keep.to_numpy(zero_copy_only=False)]
    trimmed = pc.utf8_ltrim(tokens, "0")
    trimmed = pc.if_else(pc.equal(trimmed, ""), "0", trimmed)
    zeros = pc.if_else(pc.utf8_is_digit(tokens), trimmed, tokens)
    return tokens, rows, zeros


def _join_per_row(values: pa.Array, rows: np.ndarray, n: int) -> np.ndarray:
    """Concatenate the tokens of each row (rows sorted), '' for a row without tokens."""
    counts = np.bincount(rows, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), values), "")
    return joined.to_numpy(zero_copy_only=False)


def reference_keys(ids: pd.Series) -> pd.DataFrame:
    """For each id (index kept as `row`): its keys, by kind: full, zeros, noprefix.

    Built in Arrow's kernels (a million invoice numbers in seconds); each distinct key once
    per id."""
    if ids.empty:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "key": pd.Series(dtype=object),
                             "kind": pd.Series(dtype=object)})
    tokens, rows, zeros = _arrow_tokens(ids)
    full = _join_per_row(tokens, rows, len(ids))
    zero = _join_per_row(zeros, rows, len(ids))
    strip = lambda a: pc.replace_substring_regex(pa.array(a, type=pa.string()), "^[A-Z]+", "").to_numpy(zero_copy_only=False)  # noqa: E731
    noprefix_full, noprefix_zero = strip(full), strip(zero)
    index = ids.index.to_numpy()
    frames = []
    for key, kind, distinct in ((full, "full", np.ones(len(full), dtype=bool)),
                                (zero, "zeros", zero != full),
                                (noprefix_full, "noprefix", (noprefix_full != full) & (noprefix_full != zero)),
                                (noprefix_zero, "noprefix", (noprefix_zero != full) & (noprefix_zero != zero)
                                 & (noprefix_zero != noprefix_full))):
        lengths = pc.utf8_length(pa.array(key, type=pa.string())).to_numpy(zero_copy_only=False)
        wanted = distinct & (lengths >= (6 if kind == "noprefix" else MIN_WINDOW_KEY))
        frames.append(pd.DataFrame({"row": index[wanted], "key": key[wanted], "kind": kind}))
    return pd.concat(frames, ignore_index=True)


def text_windows(text: pd.Series) -> pd.DataFrame:
    """(row, key, span) for every window of 1..3 consecutive tokens of each text, in both the
    as-written and the zeros-stripped spelling; windows without a digit are dropped."""
    if text.empty:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "key": pd.Series(dtype=object),
                             "span": pd.Series(dtype="int64")})
    tokens, rows, zeros = _arrow_tokens(text)
    index = text.index.to_numpy()
    out = []
    for spelled in (tokens, zeros):
        window = spelled
        valid = np.ones(len(spelled), dtype=bool)
        for span in range(1, MAX_WINDOW_TOKENS + 1):
            if span > 1:   # append the token `span - 1` places further on, when in the same text
                shift = span - 1
                following = pa.concat_arrays([spelled.slice(shift), pa.array([""] * min(shift, len(spelled)), pa.string())])
                same_row = np.zeros(len(spelled), dtype=bool)
                same_row[:-shift or None] = rows[shift:] == rows[:len(rows) - shift]
                valid &= same_row
                window = pc.binary_join_element_wise(window, following, "")
            keys = window.to_numpy(zero_copy_only=False)
            lengths = pc.utf8_length(window).to_numpy(zero_copy_only=False)
            digits = pc.match_substring_regex(window, r"\d").to_numpy(zero_copy_only=False)
            keep = valid & (lengths >= MIN_WINDOW_KEY) & digits
            out.append(pd.DataFrame({"row": index[rows[keep]], "key": keys[keep], "span": span}))
    windows = pd.concat(out, ignore_index=True)
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
