"""The SQL each engine needs for the compiler's primitives: lists of JSON values with lambdas, JSON access,
structs, errors. DuckDB holds FHIR JSON in its JSON type (lists: ``JSON[]``, lambdas ``lambda x: ...``);
Spark 4.0 in its VARIANT type (arrays: ``ARRAY<VARIANT>``, lambdas ``x -> ...``, ``aggregate``). Both
report JSON types with the same names (DuckDB's json_type: OBJECT, ARRAY, VARCHAR, BIGINT, UBIGINT,
DOUBLE, BOOLEAN, NULL) so that the compiler is the same for both."""

from __future__ import annotations

import json


class DuckDB:
    name = "duckdb"
    empty = "[]::JSON[]"

    # -- literals and names
    def s(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def jlit(self, value: object) -> str:
        return f"{self.s(json.dumps(value))}::JSON"

    def sql_type(self, t: str) -> str:
        return t

    # -- lists
    def lam(self, params: list[str], body: str) -> str:
        return f"lambda {', '.join(params)}: {body}"

    def transform(self, lst: str, params: list[str], body: str) -> str:
        return f"list_transform({lst}, {self.lam(params, body)})"

    def filter(self, lst: str, params: list[str], body: str) -> str:
        return f"list_filter({lst}, {self.lam(params, body)})"

    def idx0(self, i: str) -> str:
        """The 0-based index of a lambda's index parameter."""
        return f"({i} - 1)"

    def flatten(self, lst: str) -> str:
        return f"flatten({lst})"

    def size(self, lst: str) -> str:
        return f"len({lst})"

    def concat(self, *lists: str) -> str:
        out = lists[0]
        for more in lists[1:]:
            out = f"list_concat({out}, {more})"
        return out

    def list_(self, items: list[str]) -> str:
        return "[" + ", ".join(items) + "]"

    def elem(self, lst: str, k: str | int) -> str:
        """1-based element (NULL past the end)."""
        return f"{lst}[{k}]"

    def slice_(self, lst: str, start: str, length: str) -> str:
        """``length`` items from the 1-based ``start`` (both positive)."""
        return f"list_slice({lst}, {start}, {start} + {length} - 1)"

    def last(self, lst: str) -> str:
        return f"list_slice({lst}, -1, -1)"

    def reduce(self, lst: str, init: str, acc: str, x: str, body: str) -> str:
        return f"list_reduce({lst}, {self.lam([acc, x], body)}, {init})"

    def sort_by(self, lst: str, key: str) -> str:
        """Sort a list of structs on their field ``key`` (a list of indexes)."""
        return f"list_sort({lst})"

    def range_(self, n: int) -> str:
        return f"range({n})"

    def join(self, lst: str, sep: str) -> str:
        return f"array_to_string({lst}, {sep})"

    # -- structs
    def struct(self, fields: list[tuple[str, str]]) -> str:
        return "struct_pack(" + ", ".join(f"{self.ident(n)} := {e}" for n, e in fields) + ")"

    def field(self, v: str, name: str) -> str:
        return f"{v}.{self.ident(name)}"

    def error(self, msg: str) -> str:
        return f"error({self.s(msg)})"

    # -- JSON
    def jtype(self, x: str) -> str:
        return f"json_type({x})"

    def child_list(self, v: str, name: str, e: str) -> str:
        """The collection of ``v.name``: a JSON array's items (nulls dropped), a value, or empty. The parent
        is parsed once (json_extract), the (small) child then inspected."""
        p = '$."' + name.replace('"', '\\"') + '"'
        c = f"{e}_c"
        body = (
            f"CASE coalesce(json_type({c}), 'NULL') "
            f"WHEN 'ARRAY' THEN list_filter(json_extract({c}, '$[*]'), lambda {e}: json_type({e}) <> 'NULL') "
            f"WHEN 'NULL' THEN {self.empty} ELSE [{c}] END"
        )
        return f"list_transform([json_extract({v}, {self.s(p)})], lambda {c}: {body})[1]"

    def child_of_value(self, c: str, e: str) -> str:
        """The collection of an already extracted JSON value ``c`` (cheap to repeat)."""
        return (
            f"(CASE coalesce(json_type({c}), 'NULL') "
            f"WHEN 'ARRAY' THEN list_filter(json_extract({c}, '$[*]'), lambda {e}: json_type({e}) <> 'NULL') "
            f"WHEN 'NULL' THEN {self.empty} ELSE [{c}] END)"
        )

    def keys(self, v: str) -> str:
        return f"coalesce(json_keys({v}), [])"

    def child_list_dyn(self, v: str, key: str) -> str:
        path = f"('$.\"' || {key} || '\"')"
        return (
            f"(CASE coalesce(json_type({v}, {path}), 'NULL') "
            f"WHEN 'ARRAY' THEN json_extract(json_extract({v}, {path}), '$[*]') "
            f"WHEN 'NULL' THEN {self.empty} ELSE [json_extract({v}, {path})] END)"
        )

    def jstr(self, x: str) -> str:
        """A JSON scalar as text (strings unquoted)."""
        return f"({x} ->> '$')"

    def jget_str(self, x: str, key: str) -> str:
        return f"({x} ->> {self.s('$.' + key)})"

    def jget(self, x: str, key: str) -> str:
        return f"({x} -> {self.s('$.' + key)})"

    def jtext(self, x: str) -> str:
        """Canonical JSON text (for equality of any two values)."""
        return f"{x}::VARCHAR"

    def jdouble(self, x: str) -> str:
        return f"{x}::DOUBLE"

    def jbigint(self, x: str) -> str:
        return f"{x}::BIGINT"

    def jbool(self, x: str) -> str:
        return f"TRY_CAST({x} AS BOOLEAN)"

    def to_json(self, e: str) -> str:
        return f"to_json({e})"

    def try_cast(self, e: str, t: str) -> str:
        return f"TRY_CAST({e} AS {self.sql_type(t)})"

    # -- scalars
    def regexp_matches(self, s: str, pattern: str) -> str:
        return f"regexp_matches({s}, {self.s(pattern)})"

    def regexp_full(self, s: str, pattern: str) -> str:
        return f"regexp_full_match({s}, {self.s(pattern)})"

    def regexp_extract(self, s: str, pattern: str, group: int) -> str:
        return f"regexp_extract({s}, {self.s(pattern)}, {group})"

    def regexp_groups(self, s: str, pattern: str, n: int) -> str:
        """A struct g1..gn of the pattern's groups, matched once ('' when it does not match)."""
        names = ", ".join(self.s(f"g{i}") for i in range(1, n + 1))
        return f"regexp_extract({s}, {self.s(pattern)}, [{names}])"

    def regexp_replace(self, s: str, pattern: str, to: str) -> str:
        return f"regexp_replace({s}, {self.s(pattern)}, {self.s(to)})"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} // {b})"

    def fmod(self, a: str, b: str) -> str:
        return f"fmod({a}, {b})"

    def exact(self, a: str, op: str, b: str) -> str:
        """Decimal arithmetic on two doubles (0.1 + 0.2 = 0.3), as a double."""
        return f"(({a})::DECIMAL(38, 12) {op} ({b})::DECIMAL(38, 12))::DOUBLE"

    def last_day(self, ym: str) -> str:
        return f"strftime(last_day(strptime({ym} || '-01', '%Y-%m-%d')), '%Y-%m-%d')"

    def fn(self, name: str) -> str:
        return name

    def json_array_text(self, lst: str, x: str) -> str:
        return f"to_json({lst})"

    def unnest_query(self, cols: list[str], rows: str, table: str, conds: list[str]) -> str:
        sel = ", ".join(f"_r.{self.ident(c)} AS {self.ident(c)}" for c in cols)
        return f"SELECT {sel} FROM (SELECT unnest({rows}) AS _r FROM {table} WHERE {' AND '.join(conds)})"


_SPARK_FN = {
    "starts_with": "startswith",
    "ends_with": "endswith",
    "strpos": "instr",
    "ceil": "ceil",
    "trunc": "trunc",
}


class Spark(DuckDB):
    name = "spark"
    empty = "CAST(array() AS ARRAY<VARIANT>)"

    def s(self, text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def ident(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def jlit(self, value: object) -> str:
        return f"parse_json({self.s(json.dumps(value))})"

    def sql_type(self, t: str) -> str:
        return "STRING" if t == "VARCHAR" else t

    def lam(self, params: list[str], body: str) -> str:
        head = params[0] if len(params) == 1 else f"({', '.join(params)})"
        return f"{head} -> {body}"

    def transform(self, lst: str, params: list[str], body: str) -> str:
        return f"transform({lst}, {self.lam(params, body)})"

    def filter(self, lst: str, params: list[str], body: str) -> str:
        return f"filter({lst}, {self.lam(params, body)})"

    def idx0(self, i: str) -> str:
        return i

    def size(self, lst: str) -> str:
        return f"size({lst})"

    def concat(self, *lists: str) -> str:
        return "concat(" + ", ".join(lists) + ")"

    def list_(self, items: list[str]) -> str:
        return "array(" + ", ".join(items) + ")"

    def elem(self, lst: str, k: str | int) -> str:
        return f"try_element_at({lst}, {k})"

    def slice_(self, lst: str, start: str, length: str) -> str:
        return (
            f"(CASE WHEN {start} > size({lst}) OR {length} <= 0 THEN slice({lst}, 1, 0) "
            f"ELSE slice({lst}, {start}, {length}) END)"
        )

    def last(self, lst: str) -> str:
        return f"(CASE WHEN size({lst}) = 0 THEN {lst} ELSE slice({lst}, -1, 1) END)"

    def reduce(self, lst: str, init: str, acc: str, x: str, body: str) -> str:
        return f"aggregate({lst}, {init}, {self.lam([acc, x], body)})"

    def sort_by(self, lst: str, key: str) -> str:
        k = self.ident(key)
        return (
            f"array_sort({lst}, (_l, _r) -> CASE WHEN _l.{k} < _r.{k} THEN -1 "
            f"WHEN _l.{k} > _r.{k} THEN 1 ELSE 0 END)"
        )

    def range_(self, n: int) -> str:
        return f"sequence(1, {n})"

    def join(self, lst: str, sep: str) -> str:
        return f"array_join({lst}, {sep})"

    def struct(self, fields: list[tuple[str, str]]) -> str:
        return "named_struct(" + ", ".join(f"{self.s(n)}, {e}" for n, e in fields) + ")"

    def error(self, msg: str) -> str:
        return f"raise_error({self.s(msg)})"

    def jtype(self, x: str) -> str:
        t = f"schema_of_variant({x})"
        return (
            f"(CASE WHEN {x} IS NULL THEN NULL WHEN is_variant_null({x}) THEN 'NULL' "
            f"WHEN try_variant_get({x}, '$', 'array<variant>') IS NOT NULL THEN 'ARRAY' "
            f"WHEN try_variant_get({x}, '$', 'map<string,variant>') IS NOT NULL THEN 'OBJECT' "
            f"WHEN {t} = 'STRING' THEN 'VARCHAR' WHEN {t} = 'BOOLEAN' THEN 'BOOLEAN' "
            f"WHEN {t} IN ('BIGINT', 'INT', 'SMALLINT', 'TINYINT') "
            f"OR {t} RLIKE '^DECIMAL\\\\([0-9]+,0\\\\)$' "
            f"THEN 'BIGINT' ELSE 'DOUBLE' END)"
        )

    def _get(self, v: str, name: str) -> str:
        return f"try_variant_get({v}, {self.s('$[' + json.dumps(name) + ']')})"

    def child_list(self, v: str, name: str, e: str) -> str:
        g = self._get(v, name)
        arr = f"try_variant_get({g}, '$', 'array<variant>')"
        return (
            f"(CASE WHEN {g} IS NULL OR is_variant_null({g}) THEN {self.empty} "
            f"WHEN {arr} IS NOT NULL THEN filter({arr}, {e} -> NOT is_variant_null({e})) "
            f"ELSE array({g}) END)"
        )

    def keys(self, v: str) -> str:
        keys = f"map_keys(try_variant_get({v}, '$', 'map<string,variant>'))"
        return f"coalesce({keys}, CAST(array() AS ARRAY<STRING>))"

    def child_list_dyn(self, v: str, key: str) -> str:
        g = f"try_variant_get({v}, '$', 'map<string,variant>')[{key}]"
        arr = f"try_variant_get({g}, '$', 'array<variant>')"
        return (
            f"(CASE WHEN {g} IS NULL OR is_variant_null({g}) THEN {self.empty} "
            f"WHEN {arr} IS NOT NULL THEN {arr} ELSE array({g}) END)"
        )

    def jstr(self, x: str) -> str:
        return f"try_variant_get({x}, '$', 'string')"

    def jget_str(self, x: str, key: str) -> str:
        return f"try_variant_get({x}, {self.s('$[' + json.dumps(key) + ']')}, 'string')"

    def jget(self, x: str, key: str) -> str:
        return self._get(x, key)

    def jtext(self, x: str) -> str:
        return f"to_json({x})"

    def jdouble(self, x: str) -> str:
        return f"try_variant_get({x}, '$', 'double')"

    def jbigint(self, x: str) -> str:
        return f"try_variant_get({x}, '$', 'bigint')"

    def jbool(self, x: str) -> str:
        return f"try_variant_get({x}, '$', 'boolean')"

    def to_json(self, e: str) -> str:
        return f"CAST({e} AS VARIANT)"

    def try_cast(self, e: str, t: str) -> str:
        return f"try_cast({e} AS {self.sql_type(t)})"

    def regexp_matches(self, s: str, pattern: str) -> str:
        return f"regexp_like({s}, {self.s(pattern)})"

    def regexp_full(self, s: str, pattern: str) -> str:
        return f"regexp_like({s}, {self.s('^(?:' + pattern + ')$')})"

    def regexp_groups(self, s: str, pattern: str, n: int) -> str:
        return self.struct([(f"g{i}", self.regexp_extract(s, pattern, i)) for i in range(1, n + 1)])

    def int_div(self, a: str, b: str) -> str:
        return f"({a} div {b})"

    def fmod(self, a: str, b: str) -> str:
        return f"({a} % {b})"

    def exact(self, a: str, op: str, b: str) -> str:
        return f"round(({a}) {op} ({b}), 12)"

    def last_day(self, ym: str) -> str:
        return f"date_format(last_day(to_date({ym} || '-01')), 'yyyy-MM-dd')"

    def fn(self, name: str) -> str:
        return _SPARK_FN.get(name, name)

    def json_array_text(self, lst: str, x: str) -> str:
        return f"concat('[', array_join(transform({lst}, {x} -> to_json({x})), ','), ']')"

    def unnest_query(self, cols: list[str], rows: str, table: str, conds: list[str]) -> str:
        sel = ", ".join(f"_r.{self.ident(c)} AS {self.ident(c)}" for c in cols)
        return (
            f"SELECT {sel} FROM (SELECT explode({rows}) AS _r FROM {table} WHERE {' AND '.join(conds)}) AS _x"
        )


DIALECTS = {"duckdb": DuckDB(), "spark": Spark()}
