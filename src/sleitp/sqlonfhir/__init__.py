"""SQL on FHIR v2 (2.0.0) ViewDefinitions compiled to set-based SQL (docs/sql-on-fhir.md).

``parse_view`` validates a ViewDefinition, ``compile_view`` turns it into one DuckDB query over a table of
resources held as JSON, ``DuckDBViewRunner`` reads FHIR sources with DuckDB's JSON reader and writes the
rows; ``suite`` runs the specification's shared test suite and writes its test_report.json.
"""

from sleitp.sqlonfhir.compiler import compile_view
from sleitp.sqlonfhir.runner import DuckDBViewRunner, load_view, resources_sql, rows_of_resources
from sleitp.sqlonfhir.viewdef import View, ViewDefinitionError, parse_view

__all__ = [
    "DuckDBViewRunner",
    "View",
    "ViewDefinitionError",
    "compile_view",
    "load_view",
    "parse_view",
    "resources_sql",
    "rows_of_resources",
]
