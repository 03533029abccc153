"""Parse and validate a SQL on FHIR v2 ViewDefinition (https://sql-on-fhir.org/ig/2.0.0/
StructureDefinition-ViewDefinition.html) into plain dataclasses the compiler walks.

Every problem is a :class:`ViewDefinitionError` whose message starts with the path of the part at fault,
for example ``select[1].column[0].path: expected a FHIRPath string, got 1`` or
``select[0].unionAll[1]: columns [a, c] differ from unionAll[0]'s [a, b]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sleitp.errors import ViewDefinitionError
from sleitp.sqlonfhir import fhirpath as fp

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# constant value[x] types (ViewDefinition.constant.value[x]) and the literal kind each becomes
_CONSTANT_KINDS = {
    "valueBase64Binary": "string",
    "valueBoolean": "boolean",
    "valueCanonical": "string",
    "valueCode": "string",
    "valueDate": "string",
    "valueDateTime": "string",
    "valueDecimal": "decimal",
    "valueId": "string",
    "valueInstant": "string",
    "valueInteger": "integer",
    "valueInteger64": "integer",
    "valueOid": "string",
    "valuePositiveInt": "integer",
    "valueString": "string",
    "valueTime": "string",
    "valueUnsignedInt": "integer",
    "valueUri": "string",
    "valueUrl": "string",
    "valueUuid": "string",
}


@dataclass(frozen=True)
class Path:
    """A FHIRPath expression of the view, with where it sits in the view (for messages)."""

    text: str
    ast: Any
    at: str


@dataclass(frozen=True)
class Column:
    name: str
    path: Path
    type: str | None
    collection: bool
    at: str


@dataclass
class Select:
    at: str
    columns: list[Column] = field(default_factory=list)
    selects: list[Select] = field(default_factory=list)
    union: list[Select] = field(default_factory=list)
    for_each: Path | None = None
    or_null: bool = False
    repeat: list[Path] | None = None

    def column_names(self) -> list[str]:
        """The columns this select produces, in the spec's order: column, select, then unionAll."""
        names = [c.name for c in self.columns]
        for sub in self.selects:
            names += sub.column_names()
        if self.union:
            names += self.union[0].column_names()
        return names

    def column_defs(self) -> list[Column]:
        cols = list(self.columns)
        for sub in self.selects:
            cols += sub.column_defs()
        if self.union:
            cols += self.union[0].column_defs()
        return cols


@dataclass
class View:
    resource: str
    constants: dict[str, fp.Literal]
    select: Select  # the view's select list as one select without columns of its own
    where: list[Path]
    name: str | None = None

    def columns(self) -> list[Column]:
        return self.select.column_defs()


def _path(value: Any, at: str) -> Path:
    if not isinstance(value, str):
        raise ViewDefinitionError(f"{at}: expected a FHIRPath string, got {type(value).__name__} {value!r}")
    try:
        return Path(value, fp.parse(value), at)
    except fp.FHIRPathSyntaxError as e:
        raise ViewDefinitionError(f"{at}: invalid FHIRPath {value!r}: {e}") from None


def _list(obj: dict, key: str, at: str) -> list:
    value = obj.get(key, [])
    if not isinstance(value, list):
        raise ViewDefinitionError(f"{at}.{key}: expected a list, got {type(value).__name__}")
    return value


def _object(value: Any, at: str) -> dict:
    if not isinstance(value, dict):
        raise ViewDefinitionError(f"{at}: expected an object, got {type(value).__name__} {value!r}")
    return value


def _select(obj: Any, at: str) -> Select:
    obj = _object(obj, at)
    sel = Select(at=at)
    if "forEach" in obj and "forEachOrNull" in obj:
        raise ViewDefinitionError(f"{at}: forEach and forEachOrNull are exclusive; give one")
    if "forEach" in obj:
        sel.for_each = _path(obj["forEach"], f"{at}.forEach")
    elif "forEachOrNull" in obj:
        sel.for_each = _path(obj["forEachOrNull"], f"{at}.forEachOrNull")
        sel.or_null = True
    if "repeat" in obj:
        if sel.for_each is not None:
            raise ViewDefinitionError(f"{at}: repeat cannot be combined with forEach/forEachOrNull")
        paths = _list(obj, "repeat", at)
        if not paths:
            raise ViewDefinitionError(f"{at}.repeat: expected at least one FHIRPath expression")
        sel.repeat = [_path(p, f"{at}.repeat[{i}]") for i, p in enumerate(paths)]
    for i, col in enumerate(_list(obj, "column", at)):
        cat = f"{at}.column[{i}]"
        col = _object(col, cat)
        name = col.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ViewDefinitionError(
                f"{cat}.name: expected a name of letters, digits and _ starting with a letter, got {name!r}"
            )
        if "path" not in col:
            raise ViewDefinitionError(f"{cat}.path: required")
        ctype = col.get("type")
        if ctype is not None and not isinstance(ctype, str):
            raise ViewDefinitionError(f"{cat}.type: expected a FHIR type name, got {ctype!r}")
        coll = col.get("collection", False)
        if not isinstance(coll, bool):
            raise ViewDefinitionError(f"{cat}.collection: expected true or false, got {coll!r}")
        sel.columns.append(Column(name, _path(col["path"], f"{cat}.path"), ctype, coll, cat))
    sel.selects = [_select(s, f"{at}.select[{i}]") for i, s in enumerate(_list(obj, "select", at))]
    sel.union = [_select(s, f"{at}.unionAll[{i}]") for i, s in enumerate(_list(obj, "unionAll", at))]
    if sel.union:
        first = sel.union[0].column_names()
        for i, branch in enumerate(sel.union[1:], start=1):
            names = branch.column_names()
            if names != first:
                raise ViewDefinitionError(
                    f"{at}.unionAll[{i}]: columns [{', '.join(names)}] differ from unionAll[0]'s "
                    f"[{', '.join(first)}] (every unionAll branch needs the same columns in the same order)"
                )
    if not (sel.columns or sel.selects or sel.union):
        raise ViewDefinitionError(f"{at}: a select needs at least one of column, select or unionAll")
    return sel


def parse_view(view: Any) -> View:
    """Validate a ViewDefinition (a decoded JSON object) and return it as a :class:`View`."""
    view = _object(view, "ViewDefinition")
    resource = view.get("resource")
    if not isinstance(resource, str) or not re.match(r"^[A-Z][A-Za-z]+$", resource):
        raise ViewDefinitionError(
            f"resource: required, a FHIR resource type such as 'Patient'; got {resource!r}"
        )
    constants: dict[str, fp.Literal] = {}
    for i, const in enumerate(_list(view, "constant", "ViewDefinition")):
        at = f"constant[{i}]"
        const = _object(const, at)
        name = const.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ViewDefinitionError(f"{at}.name: expected a constant name, got {name!r}")
        values = [k for k in const if k.startswith("value")]
        if len(values) != 1 or values[0] not in _CONSTANT_KINDS:
            raise ViewDefinitionError(
                f"{at} ({name}): expected exactly one value[x] of a FHIR primitive type "
                f"(valueString, valueInteger, valueBoolean, ...), got {values or 'none'}"
            )
        kind = _CONSTANT_KINDS[values[0]]
        value = const[values[0]]
        ok = {
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "decimal": isinstance(value, (int, float)) and not isinstance(value, bool),
        }[kind]
        if not ok:
            raise ViewDefinitionError(f"{at}.{values[0]}: expected a {kind}, got {value!r}")
        if name in constants:
            raise ViewDefinitionError(f"{at}.name: constant {name!r} is defined twice")
        constants[name] = fp.Literal(kind, value)
    selects = _list(view, "select", "ViewDefinition")
    if not selects:
        raise ViewDefinitionError("select: required, at least one select with columns")
    top = Select(at="", selects=[_select(s, f"select[{i}]") for i, s in enumerate(selects)])
    seen: dict[str, str] = {}
    for col in top.column_defs():
        if col.name in seen:
            raise ViewDefinitionError(
                f"{col.at}.name: column {col.name!r} already defined at {seen[col.name]}"
            )
        seen[col.name] = col.at
    where = []
    for i, w in enumerate(_list(view, "where", "ViewDefinition")):
        w = _object(w, f"where[{i}]")
        if "path" not in w:
            raise ViewDefinitionError(f"where[{i}].path: required")
        where.append(_path(w["path"], f"where[{i}].path"))
    name = view.get("name") if isinstance(view.get("name"), str) else None
    return View(resource, constants, top, where, name)
