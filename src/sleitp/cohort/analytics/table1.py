"""Table 1: the cohort's characteristics at the first line's start, overall or by a column (tableone).

tableone is used defensively (software.md: "pass a copy (mutation bug #205), pre-cast categoricals"):
it receives a new frame in which every binary predictor is a plain string column ("yes" / "no",
missing left missing, so tableone counts it as missing) - nullable booleans and pandas categoricals
are what crash it (#177, #203). Numeric predictors with skewed distributions are summarised as median
[Q1,Q3] (``nonnormal``); the others as mean (SD).
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass

import pandas as pd

from sleitp.cohort.analytics.data import BINARY, NUMERIC, DerivedCohort
from sleitp.errors import SourceError

# Skewed by nature (counts, ratios, grades): median [Q1,Q3]
NONNORMAL = ("baseline_platelets", "nlr", "sii", "megakaryocytes", "who_bleeding_grade")
CATEGORICAL_EXTRA = ("first_line_category", "first_line_response")


@dataclass(frozen=True)
class Table1:
    by: str | None
    n: int
    rows: list[dict]  # {"variable", "level", <column>: text}
    columns: list[str]  # the value columns in display order (Missing, Overall, groups, P-Value)
    html_table: str

    def to_json(self) -> dict:
        return {"by": self.by, "n": self.n, "columns": self.columns, "rows": self.rows}

    def to_html(self) -> str:
        title = "Table 1" + (f" by {html.escape(self.by)}" if self.by else "")
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 6px}</style></head>"
            f"<body><h1>{title}</h1><p>{self.n} patients (synthetic or real: see the source of the cohort)."
            f"</p>{self.html_table}</body></html>"
        )


def _frame_for_tableone(patients: pd.DataFrame) -> pd.DataFrame:
    """A new frame: binary columns as "yes"/"no" strings (missing stays missing), numbers as float."""
    df = pd.DataFrame(index=patients.index)
    for c in NUMERIC:
        df[c] = patients[c].astype("float64")
    for c in BINARY:
        s = patients[c].astype("boolean")
        df[c] = pd.Series(pd.NA, index=s.index, dtype="object").where(
            s.isna(), s.map({True: "yes", False: "no"})
        )
        df[c] = df[c].astype(object)
    df["first_line_category"] = patients["first_line_category"].astype(object)
    r = patients["first_line_response"]
    df["first_line_response"] = r.map({1.0: "yes", 0.0: "no"}).astype(object)
    return df


def table1(cohort: DerivedCohort, by: str | None = None, *, pval: bool = True) -> Table1:
    """Characteristics of the cohort's patients, overall or grouped by ``by`` (a column of the patient
    frame: a binary predictor, ``first_line_category`` or ``first_line_response``)."""
    from tableone import TableOne

    patients = cohort.patients()
    df = _frame_for_tableone(patients)
    columns = [c for c in (*NUMERIC, *BINARY, *CATEGORICAL_EXTRA) if df[c].notna().any()]
    if by is not None:
        if by not in df.columns:
            raise SourceError(
                f"--by: {by!r} is not a column of the cohort (expected one of "
                f"{', '.join(c for c in df.columns if c not in NUMERIC)})"
            )
        if by in NUMERIC:
            raise SourceError(
                f"--by: {by!r} is numeric; group by a binary predictor, first_line_category or "
                f"first_line_response"
            )
        columns = [c for c in columns if c != by]
        df = df.loc[df[by].notna()].copy()  # patients with the grouping unknown cannot be placed in a group
        if df[by].nunique() < 2:
            raise SourceError(f"--by: {by!r} has fewer than two groups in this cohort")
    if df.empty:
        raise SourceError(f"{cohort.source}: no patients to describe")
    categorical = [c for c in columns if c not in NUMERIC]
    with warnings.catch_warnings():  # tableone's pandas-4 deprecation notices, not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        t = _tableone(TableOne, df, columns, categorical, by, pval)
    table = t.tableone
    flat_cols = [c[-1] if isinstance(c, tuple) else str(c) for c in table.columns]
    rows = []
    for (variable, level), values in zip(table.index, table.itertuples(index=False), strict=True):
        row = {"variable": str(variable), "level": str(level)}
        row.update({col: ("" if pd.isna(v) else str(v)) for col, v in zip(flat_cols, values, strict=True)})
        rows.append(row)
    return Table1(by, int(len(df)), rows, flat_cols, table.to_html())


def _tableone(
    TableOne, df: pd.DataFrame, columns: list[str], categorical: list[str], by: str | None, pval: bool
):
    """tableone on a copy (it mutates its input: software.md #205); missing values counted, not a level."""
    return TableOne(
        df.copy(),
        columns=columns,
        categorical=categorical,
        groupby=by,
        nonnormal=[c for c in NONNORMAL if c in columns],
        pval=bool(pval and by),
        missing=True,
        include_null=False,
        overall=True,
        decimals={c: (2 if c in ("c3", "nlr") else 1) for c in columns},
    )


__all__ = ["Table1", "table1"]
