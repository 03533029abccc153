"""Run a compiled ViewDefinition on DuckDB: read FHIR resources (bulk-export NDJSON, gzipped or not, a
folder of them, a Bundle, a JSON array of resources) with DuckDB's JSON reader into one JSON column, run
the view's SQL, and write the rows (.parquet, .csv, .ndjson, or .json = one array of row objects)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb

from sleitp.errors import SourceError
from sleitp.sqlonfhir.compiler import SQL_TYPES, compile_view, sql_ident, sql_str
from sleitp.sqlonfhir.files import _NDJSON, FORMATS, bulk_files
from sleitp.sqlonfhir.spark import SparkViewRunner
from sleitp.sqlonfhir.viewdef import View, ViewDefinitionError, parse_view


def load_view(path: str | Path) -> View:
    """Read and validate a ViewDefinition JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such ViewDefinition file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a folder, expected a ViewDefinition .json file") from None
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not UTF-8 text, expected a ViewDefinition .json file") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SourceError(f"{path}: not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    try:
        return parse_view(data)
    except ViewDefinitionError as e:
        raise ViewDefinitionError(f"{path}: {e}") from None


def _engine_error(e: duckdb.Error, view: View) -> SourceError:
    """A DuckDB error as a sleitp error: the view's own runtime checks (error() calls) keep their message;
    anything else is reported as a source that could not be read."""
    text = str(e).split("\n")[0]
    text = re.sub(r"^[A-Za-z ]+Error: ", "", text)
    if re.match(r"^(where|select|constant)\[", text):
        return ViewDefinitionError(text)
    if text.startswith("Malformed JSON"):
        return SourceError(f"the source is not FHIR JSON / NDJSON: {text.strip()}")
    return SourceError(f"view {view.name or view.resource!r}: the engine could not run it: {text}")


def resources_sql(source: str | Path, resource: str) -> str:
    """A DuckDB SQL query with one JSON column ``resource`` per FHIR resource of ``source``."""
    source = Path(source)
    if not source.exists():
        raise SourceError(f"{source}: no such file or folder")
    if source.is_dir():
        bundles = sorted(p for p in source.iterdir() if p.is_file() and p.suffix == ".json")
        if not any(p.name.endswith(_NDJSON) for p in source.iterdir()):
            if not bundles:
                raise SourceError(
                    f"{source}: no .ndjson or .json files (expected a FHIR bulk export such as "
                    "Patient.ndjson, or Bundles)"
                )
            return " UNION ALL ".join(_json_file_sql(p) for p in bundles)
        files = bulk_files(source, resource)
        if not files:
            return "SELECT NULL::JSON AS resource WHERE false"
        listing = "[" + ", ".join(sql_str(str(p)) for p in files) + "]"
        return f"SELECT json AS resource FROM read_ndjson_objects({listing})"
    if source.name.endswith(_NDJSON):
        return f"SELECT json AS resource FROM read_ndjson_objects({sql_str(str(source))})"
    if source.name.endswith((".json", ".json.gz")):
        return _json_file_sql(source)
    raise SourceError(
        f"{source}: expected an .ndjson file, a folder of bulk-export NDJSON, or a Bundle .json"
    )


def _json_file_sql(path: Path) -> str:
    """A Bundle (entry[*].resource), a JSON array of resources, or one resource."""
    doc = f"(SELECT json AS d FROM read_json_objects({sql_str(str(path))}, format = 'auto'))"
    return (
        f"SELECT unnest(CASE WHEN json_type(d) = 'ARRAY' THEN json_extract(d, '$[*]') "
        f"WHEN d ->> '$.resourceType' = 'Bundle' THEN list_filter(json_extract(d, '$.entry[*].resource'), "
        f"lambda r: r IS NOT NULL) ELSE [d] END) AS resource FROM {doc}"
    )


class DuckDBViewRunner:
    """Runs views on one DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None):
        self.con = con or duckdb.connect()

    def sql(self, view: View, source_sql: str) -> str:
        return compile_view(view, f"({source_sql}) AS _src")

    def rows(self, view: View, source_sql: str) -> list[dict[str, Any]]:
        """The view's rows as dicts (keys in column order; JSON values decoded)."""
        query = self.sql(view, source_sql)
        try:
            out = self.con.execute(f"SELECT to_json(_q)::VARCHAR FROM ({query}) AS _q").fetchall()
        except duckdb.Error as e:
            raise _engine_error(e, view) from None
        names = [c.name for c in view.columns()]
        rows = []
        for (text,) in out:
            row = json.loads(text)
            rows.append({n: row.get(n) for n in names})
        return rows

    def write(self, view: View, source_sql: str, out: Path) -> int:
        """Write the view's rows to ``out`` (format from the suffix); returns the row count."""
        fmt = FORMATS.get(out.suffix.lower())
        if fmt is None:
            raise SourceError(f"--out {out}: expected a .parquet, .csv, .ndjson or .json file")
        query = self.sql(view, source_sql)
        if fmt in ("parquet", "csv"):
            cols = []
            for c in view.columns():
                name = sql_ident(c.name)
                if c.collection and fmt == "csv":
                    cols.append(f"to_json({name})::VARCHAR AS {name}")
                elif c.type is None and not c.collection:  # untyped JSON: a string unquoted, else JSON text
                    cols.append(
                        f"CASE WHEN json_type({name}) = 'VARCHAR' THEN {name} ->> '$' "
                        f"ELSE {name}::VARCHAR END AS {name}"
                    )
                else:
                    cols.append(name)
            query = f"SELECT {', '.join(cols)} FROM ({query}) AS _q"
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".partial")
        options = {
            "parquet": "FORMAT parquet",
            "csv": "FORMAT csv, HEADER true",
            "ndjson": "FORMAT json",
            "json": "FORMAT json, ARRAY true",
        }[fmt]
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE _sof_out AS {query}")
            n = self.con.execute("SELECT count(*) FROM _sof_out").fetchone()[0]
            self.con.execute(f"COPY _sof_out TO {sql_str(str(tmp))} ({options})")
        except duckdb.Error as e:
            tmp.unlink(missing_ok=True)
            raise _engine_error(e, view) from None
        finally:
            self.con.execute("DROP TABLE IF EXISTS _sof_out")
        tmp.replace(out)
        return int(n)


def rows_of_resources(
    view: View | dict,
    resources: list[dict],
    con: duckdb.DuckDBPyConnection | None = None,
    backend: str = "duckdb",
) -> list[dict[str, Any]]:
    """Run a view over in-memory resources (the test suite's ``resources``)."""
    if isinstance(view, dict):
        view = parse_view(view)
    if backend == "spark":
        return SparkViewRunner().rows_of_resources(view, resources)
    if backend != "duckdb":
        raise SourceError(f"backend {backend!r}: expected duckdb or spark")
    runner = DuckDBViewRunner(con)
    runner.con.execute("CREATE OR REPLACE TEMP TABLE _sof_in (resource JSON)")
    if resources:
        runner.con.executemany("INSERT INTO _sof_in VALUES (?)", [[json.dumps(r)] for r in resources])
    return runner.rows(view, "SELECT resource FROM _sof_in")


__all__ = [
    "DuckDBViewRunner", "FORMATS", "SQL_TYPES", "bulk_files", "load_view", "resources_sql",
    "rows_of_resources",
]
