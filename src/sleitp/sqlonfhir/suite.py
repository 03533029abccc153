"""Run the SQL on FHIR v2 shared test suite (tests/*.json of https://github.com/FHIR/sql-on-fhir-v2) through
the view runner and report the result in the suite's test_report.json format
(test_report/test-report.schema.json: ``{file: {"tests": [{"name", "result": {"passed", "error"?}}]}}``).

Comparison rules of the suite: ``expect`` rows are compared ignoring row order (a multiset of rows, each
row a JSON object compared by value); ``expectColumns`` is the exact column list, in order;
``expectError`` passes when the runner rejects the view (a ViewDefinitionError or another sleitp error).

    python -m sleitp.sqlonfhir.suite TESTS_DIR --out docs/sql-on-fhir-test-report.json [--backend spark]
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sleitp.errors import SleitpError
from sleitp.sqlonfhir.runner import rows_of_resources
from sleitp.sqlonfhir.viewdef import parse_view


@dataclass(frozen=True)
class Outcome:
    file: str
    title: str
    tags: tuple[str, ...]
    passed: bool
    error: str | None = None

    @property
    def experimental(self) -> bool:
        return "experimental" in self.tags


def _canon(rows: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def _numbers_equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_numbers_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_numbers_equal(a[k], b[k]) for k in a)
    return a == b


def rows_match(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> bool:
    """The suite's rule: the same rows, in any order (numbers compared as numbers: 1.0 == 1)."""
    if len(got) != len(want):
        return False
    if _canon(got) == _canon(want):
        return True
    rest = list(want)
    for row in got:
        for i, cand in enumerate(rest):
            if _numbers_equal(row, cand):
                del rest[i]
                break
        else:
            return False
    return True


def run_test(
    case: dict[str, Any], resources: list[dict[str, Any]], backend: str = "duckdb"
) -> tuple[bool, str | None]:
    """(passed, why not) of one test of the suite."""
    view = case.get("view")
    try:
        rows = rows_of_resources(view, resources, backend=backend)
    except SleitpError as e:
        if case.get("expectError"):
            return True, None
        return False, f"unexpected error: {e}"
    if case.get("expectError"):
        return False, f"expected an error, got {len(rows)} row(s)"
    if "expectColumns" in case:
        cols = [c.name for c in parse_view(view).columns()]
        if rows:
            cols = list(rows[0].keys())
        if cols != case["expectColumns"]:
            return False, f"columns {cols} != expected {case['expectColumns']}"
    if "expect" in case and not rows_match(rows, case["expect"]):
        return False, f"rows {json.dumps(rows)} != expected {json.dumps(case['expect'])}"
    return True, None


def run_suite(tests_dir: str | Path, backend: str = "duckdb") -> list[Outcome]:
    """Every test of every tests/*.json file, in file then test order."""
    outcomes = []
    for path in sorted(Path(tests_dir).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        file_tags = tuple(doc.get("tags", ()))
        for case in doc.get("tests", []):
            tags = tuple(case.get("tags", ())) or file_tags
            passed, error = run_test(case, doc.get("resources", []), backend)
            outcomes.append(Outcome(path.name, case.get("title", ""), tags, passed, error))
    return outcomes


def report(outcomes: list[Outcome]) -> dict[str, Any]:
    """The suite's test_report.json document."""
    doc: dict[str, Any] = {}
    for o in outcomes:
        result: dict[str, Any] = {"passed": o.passed}
        if o.error:
            result["error"] = o.error
        doc.setdefault(o.file, {"tests": []})["tests"].append({"name": o.title, "result": result})
    return doc


def write_report(outcomes: list[Outcome], out: str | Path) -> Path:
    """Write the report atomically (parallel test workers may write the same file)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(report(outcomes), indent=2) + "\n", encoding="utf-8")
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sleitp.sqlonfhir.suite", description=__doc__.split("\n")[0]
    )
    parser.add_argument("tests_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build/sql-on-fhir/test_report.json"))
    parser.add_argument("--backend", choices=("duckdb", "spark"), default="duckdb")
    args = parser.parse_args(argv)
    outcomes = run_suite(args.tests_dir, args.backend)
    write_report(outcomes, args.out)
    shareable = [o for o in outcomes if not o.experimental]
    experimental = [o for o in outcomes if o.experimental]
    print(
        f"{args.backend}: shareable {sum(o.passed for o in shareable)}/{len(shareable)}, experimental "
        f"{sum(o.passed for o in experimental)}/{len(experimental)}; report: {args.out}"
    )
    for o in outcomes:
        if not o.passed:
            print(f"  FAIL {o.file} {o.title!r}: {o.error}")
    return 0 if all(o.passed for o in shareable) else 1


if __name__ == "__main__":
    raise SystemExit(main())
