"""Run a compiled ViewDefinition on Spark 4.0 (the process-wide session of sleitp.cohort.engine): resources
are read with Spark's text reader (NDJSON, gzipped or not; Bundles and JSON arrays as whole files) into one
VARIANT column, and the same compiler as DuckDB's, with the Spark dialect, gives the query.

Pathling (the Spark SQL on FHIR implementation) is not used: it needs Java 21 and its JVM library from
Maven at session start, which this project's Spark 4.0 / Java 17 setup does not have."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sleitp.errors import SourceError
from sleitp.sqlonfhir.compiler import compile_view
from sleitp.sqlonfhir.files import _NDJSON, FORMATS, bulk_files
from sleitp.sqlonfhir.viewdef import View, ViewDefinitionError


def _session():
    # lazy: the engine package imports Ibis (seconds); DuckDB views (`sleitp fhir view`) must not pay it
    from sleitp.cohort.engine.spark import spark_session

    return spark_session()


def _engine_error(e: Exception, view: View) -> SourceError:
    text = str(e)
    m = re.search(r"\[USER_RAISED_EXCEPTION\] (.*?)(?: SQLSTATE|\n|$)", text)
    if m:
        return ViewDefinitionError(m.group(1).strip())
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    return SourceError(f"view {view.name or view.resource!r}: Spark could not run it: {first[:400]}")


class SparkViewRunner:
    def __init__(self, session: Any | None = None):
        self.spark = session or _session()
        self._n = 0

    def _table(self, df) -> str:
        self._n += 1
        name = f"_sof_resources_{self._n}"
        df.createOrReplaceTempView(name)
        return name

    def source_table(self, source: str | Path, resource: str) -> str:
        """A temp view with one VARIANT column ``resource`` per resource of ``source``."""
        source = Path(source)
        if not source.exists():
            raise SourceError(f"{source}: no such file or folder")
        read = self.spark.read
        if source.is_dir():
            ndjson = [p for p in source.iterdir() if p.name.endswith(_NDJSON)]
            if not ndjson:
                files = sorted(str(p) for p in source.iterdir() if p.is_file() and p.suffix == ".json")
                if not files:
                    raise SourceError(f"{source}: no .ndjson or .json files")
                return self._whole_files(files)
            files = [str(p) for p in bulk_files(source, resource)]
            if not files:
                return self._table(self.spark.sql("SELECT parse_json('null') AS resource WHERE false"))
            lines = read.text(files)
        elif source.name.endswith(_NDJSON):
            lines = read.text(str(source))
        elif source.name.endswith((".json", ".json.gz")):
            return self._whole_files([str(source)])
        else:
            raise SourceError(f"{source}: expected an .ndjson file, a bulk-export folder or a Bundle .json")
        view = self._table(lines)
        return self._table(
            self.spark.sql(f"SELECT parse_json(value) AS resource FROM {view} WHERE trim(value) <> ''")
        )

    def _whole_files(self, files: list[str]) -> str:
        docs = self._table(self.spark.read.text(files, wholetext=True))
        arr = "try_variant_get(d, '$', 'array<variant>')"
        entries = "try_variant_get(d, '$.entry', 'array<variant>')"
        sql = (
            f"SELECT explode(CASE WHEN {arr} IS NOT NULL THEN {arr} "
            f"WHEN try_variant_get(d, '$.resourceType', 'string') = 'Bundle' "
            f"THEN filter(transform({entries}, "
            f"e -> try_variant_get(e, '$.resource')), r -> r IS NOT NULL) ELSE array(d) END) AS resource "
            f"FROM (SELECT parse_json(value) AS d FROM {docs})"
        )
        return self._table(self.spark.sql(sql))

    def sql(self, view: View, table: str) -> str:
        return compile_view(view, table, dialect="spark")

    def _untyped(self, view: View) -> set[str]:
        return {c.name for c in view.columns() if c.type is None}

    def rows(self, view: View, table: str) -> list[dict[str, Any]]:
        try:
            out = self.spark.sql(self.sql(view, table)).collect()
        except Exception as e:  # py4j / pyspark AnalysisException and friends
            raise _engine_error(e, view) from None
        untyped = self._untyped(view)
        rows = []
        for r in out:
            row = r.asDict(recursive=True)
            for name in untyped:
                if row.get(name) is not None:
                    row[name] = json.loads(row[name])
            rows.append({c.name: row.get(c.name) for c in view.columns()})
        return rows

    def rows_of_resources(self, view: View, resources: list[dict]) -> list[dict[str, Any]]:
        df = self.spark.createDataFrame([(json.dumps(r),) for r in resources] or [("null",)], "j string")
        src = self._table(df)
        where = "" if resources else " WHERE false"
        table = self._table(self.spark.sql(f"SELECT parse_json(j) AS resource FROM {src}{where}"))
        return self.rows(view, table)

    def write(self, view: View, table: str, out: Path) -> int:
        """Write the rows to ``out``: Parquet and CSV by Spark's writers (one part file, moved to OUT),
        NDJSON and JSON streamed from the driver (rows as objects, keys in column order)."""
        fmt = FORMATS.get(out.suffix.lower())
        if fmt is None:
            raise SourceError(f"--out {out}: expected a .parquet, .csv, .ndjson or .json file")
        query = self.sql(view, table)
        untyped = self._untyped(view)
        names = [c.name for c in view.columns()]
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            if fmt in ("ndjson", "json"):
                return self._write_json(self.spark.sql(query), out, fmt, names, untyped)
            cols = []
            for c in view.columns():
                name = f"`{c.name}`"
                if c.name in untyped and not c.collection:
                    cols.append(f"try_variant_get(parse_json({name}), '$', 'string') AS {name}")
                elif c.collection and fmt == "csv" and c.name not in untyped:
                    cols.append(f"to_json({name}) AS {name}")
                else:
                    cols.append(name)
            df = self.spark.sql(f"SELECT {', '.join(cols)} FROM ({query}) AS _q")
            n = df.count()  # one more pass over the source; the part file holds the same rows
            with tempfile.TemporaryDirectory(prefix="sleitp-sof-", dir=out.parent) as tmp:
                folder = Path(tmp) / "out"
                writer = df.coalesce(1).write.mode("overwrite")
                if fmt == "parquet":
                    writer.parquet(str(folder))
                else:
                    writer.option("header", True).option("escape", '"').csv(str(folder))
                parts = sorted(folder.glob("part-*"))
                if not parts:  # no rows and no part file
                    out.write_text(",".join(names) + "\n" if fmt == "csv" else "")
                    return 0
                shutil.move(str(parts[0]), str(out))
            return int(n)
        except (SourceError, OSError):
            raise
        except Exception as e:
            raise _engine_error(e, view) from None

    def _write_json(self, df, out: Path, fmt: str, names: list[str], untyped: set[str]) -> int:
        tmp = out.with_name(out.name + ".partial")
        n = 0
        with tmp.open("w", encoding="utf-8") as f:
            if fmt == "json":
                f.write("[")
            for r in df.toLocalIterator():
                row = r.asDict(recursive=True)
                obj = {
                    k: (json.loads(row[k]) if k in untyped and row[k] is not None else row[k]) for k in names
                }
                text = json.dumps(obj, ensure_ascii=False)
                if fmt == "json":
                    f.write(("," if n else "") + "\n" + text)
                else:
                    f.write(text + "\n")
                n += 1
            if fmt == "json":
                f.write("\n]\n")
        tmp.replace(out)
        return n
