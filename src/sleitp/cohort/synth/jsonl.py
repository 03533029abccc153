"""The five cohort tables -> ``records.jsonl`` (one record a line, spec/record.md), vectorised in Arrow.

Each row of a table becomes a JSON object by column-wise string kernels (no Python loop per row or per
patient); rows are then grouped per patient with Arrow list offsets and joined. A million records take
seconds, where building dicts and calling ``json.dumps`` per patient took many minutes. Absent values
are left out ("not given" in the record contract). Objects are ordered by patient, then date, then
their order in the table, so the same tables always give the same bytes.

The text is built without escaping, so string values must not contain ``"`` or ``\\``: true of the
generator's identifiers and controlled vocabulary, and checked (:class:`ValueError` otherwise).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sleitp.cohort.tables import OPTIONAL_COLUMNS, SCHEMAS
from sleitp.record import HISTORY_FLAGS

_STR, _NUM, _DATE, _BOOL = "str", "num", "date", "bool"


def _text(arr: pa.ChunkedArray | pa.Array, kind: str) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if kind == _STR:
        bad = pc.any(pc.match_substring(arr, '"')).as_py() or pc.any(pc.match_substring(arr, "\\")).as_py()
        if bad:
            raise ValueError("records.jsonl: a string value contains a quote or a backslash")
        return pc.binary_join_element_wise('"', arr, '"', "")
    if kind == "raw":  # already JSON text
        return arr
    if kind == _DATE:
        return pc.binary_join_element_wise('"', pc.cast(arr, pa.string()), '"', "")
    return pc.cast(arr, pa.string())  # numbers ("14", "0.99") and booleans ("true", "false")


def _object(fields: list[tuple[str, pa.Array, str]]) -> pa.Array:
    """One JSON object a row; the first field must never be null; null fields are left out."""
    pieces = []
    for i, (key, arr, kind) in enumerate(fields):
        piece = pc.binary_join_element_wise(("" if i == 0 else ",") + f'"{key}":', _text(arr, kind), "")
        pieces.append(piece if i == 0 else pc.fill_null(piece, ""))
    return pc.binary_join_element_wise("{", *pieces, "}", "")


def _per_patient(table: pa.Table, ids: pa.Array, fields, date_col: str) -> pa.Array:
    """``[obj,obj,...]`` per patient of ``ids`` (empty list when none), objects in date order."""
    found = pc.index_in(table["patient_id"], value_set=ids)
    if found.null_count:
        raise ValueError("records.jsonl: a table row belongs to no patient of the patients table")
    rows = found.to_numpy(zero_copy_only=False)
    days = pc.cast(table[date_col], pa.int32()).to_numpy(zero_copy_only=False)
    order = np.lexsort((days, rows))
    objs = _object([(k, table[c].take(pa.array(order)), kind) for k, c, kind in fields])
    counts = np.bincount(rows, minlength=len(ids))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), objs)
    return pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")


def _kind(t: pa.DataType) -> str:
    if pa.types.is_string(t):
        return _STR
    if pa.types.is_date(t):
        return _DATE
    if pa.types.is_boolean(t):
        return _BOOL
    return _NUM


def _same_named(tables: dict[str, pa.Table], name: str) -> list[tuple[str, str, str]]:
    """The fields of a table whose every column (but ``patient_id``) is the record's field of the same name
    (labs, treatments, bleeding: spec/record.md): the columns of its schema in the schema's order, then the
    optional ones of sleitp.cohort.tables the table has (the treatment's indication)."""
    optional = OPTIONAL_COLUMNS.get(name, pa.schema([]))
    columns = [*SCHEMAS[name], *(f for f in optional if f.name in tables[name].column_names)]
    return [(f.name, f.name, _kind(f.type)) for f in columns if f.name != "patient_id"]


def records_text(tables: dict[str, pa.Table]) -> bytes:
    """The records of ``tables`` (the five SCHEMAS tables) as JSON Lines bytes."""
    p = tables["patients"]
    ids = p["patient_id"].combine_chunks()
    labs = _per_patient(tables["labs"], ids, _same_named(tables, "labs"), "date")
    treatments = _per_patient(tables["treatments"], ids, _same_named(tables, "treatments"), "start")
    bleeding = _per_patient(tables["bleeding"], ids, _same_named(tables, "bleeding"), "date")
    m = tables["manifestations"]
    details = pc.binary_join_element_wise('{"class":"', m["nephritis_class"].combine_chunks(), '"}', "")
    m = m.append_column("details_json", details)
    manifestations = _per_patient(
        m, ids, [("date", "date", _DATE), ("name", "name", _STR), ("details", "details_json", "raw")], "date"
    )
    history = _object([(f, p[f"history_{f}"].combine_chunks(), _BOOL) for f in HISTORY_FLAGS])
    head = _object(
        [
            ("id", ids, _STR),
            ("sex", p["sex"], _STR),
            ("birth_date", p["birth_date"], _DATE),
            ("age_years", p["age_years"], _NUM),
            ("pregnant", p["pregnant"], _BOOL),
            ("weight_kg", p["weight_kg"], _NUM),
            ("sle_diagnosis_date", p["sle_diagnosis_date"], _DATE),
            ("itp_diagnosis_date", p["itp_diagnosis_date"], _DATE),
            ("assessment_date", p["assessment_date"], _DATE),
        ]
    )
    line = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(head, 0, -1),
        ',"history":',
        history,
        ',"labs":',
        labs,
        ',"manifestations":',
        manifestations,
        ',"treatments":',
        treatments,
        ',"bleeding":',
        bleeding,
        "}\n",
        "",
    )
    return _data(line)


def _data(arr: pa.Array) -> bytes:
    """The concatenated UTF-8 bytes of a string array without nulls (its data buffer, offset-sliced)."""
    arr = pc.cast(arr, pa.large_string()) if not isinstance(arr, pa.LargeStringArray) else arr
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    return arr.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


class JsonlWriter:
    """Appends the records of successive chunks to one ``records.jsonl``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._out = open(self.path, "wb")  # noqa: SIM115 - closed in close()

    def write(self, tables: dict[str, pa.Table]) -> None:
        self._out.write(records_text(tables))

    def close(self) -> None:
        self._out.close()


def tables_to_jsonl(tables: dict[str, pa.Table], path: str | Path) -> None:
    """Write the records of ``tables`` to ``path`` as JSON Lines."""
    with open(path, "wb") as f:
        f.write(records_text(tables))


__all__ = ["JsonlWriter", "records_text", "tables_to_jsonl"]
