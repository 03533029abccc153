"""A parser for the FHIRPath subset that SQL on FHIR v2 view paths use (FHIRPath N1 grammar, precedence
table of https://hl7.org/fhirpath/#operator-precedence), into a small AST the SQL compiler walks.

Supported syntax: literals (``{}``, ``true``/``false``, ``'string'`` with the FHIRPath escapes, integers,
decimals, ``@date``/``@dateTime``/``@Ttime``, quantities ``5 'mg'``), identifiers (plain and
`` `delimited` ``), ``$this``/``$index``, ``%constant``, member access, function calls, indexers ``[n]``,
unary ``+``/``-`` and the binary operators ``* / div mod + - & | is as < <= > >= = != ~ !~ in contains
and or xor implies``. A syntax error is a :class:`FHIRPathSyntaxError` naming the offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sleitp.errors import FHIRPathSyntaxError

# ----------------------------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Literal:
    kind: str  # string | integer | decimal | boolean | date | dateTime | time | quantity | empty
    value: object = None
    unit: str | None = None


@dataclass(frozen=True)
class Identifier:
    name: str


@dataclass(frozen=True)
class This:
    pass


@dataclass(frozen=True)
class IndexVar:
    pass


@dataclass(frozen=True)
class Constant:
    name: str


@dataclass(frozen=True)
class Member:
    target: object
    name: str


@dataclass(frozen=True)
class Call:
    target: object | None  # None: called on the current focus
    name: str
    args: tuple = field(default_factory=tuple)


@dataclass(frozen=True)
class Indexer:
    target: object
    index: object


@dataclass(frozen=True)
class Unary:
    op: str
    operand: object


@dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class TypeOp:
    op: str  # is | as
    operand: object
    type_name: str


# ------------------------------------------------------------------------------------------- lexing

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<datetime>@\d{4}(-\d{2}(-\d{2})?)?(T(\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)?(Z|[+-]\d{2}:\d{2})?)?)
  | (?P<time>@T\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?)
  | (?P<number>\d+(\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<delimited>`(?:[^`\\]|\\.)*`)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<special>\$this|\$index|\$total)
  | (?P<constant>%(?:[A-Za-z_][A-Za-z0-9_]*|`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*'))
  | (?P<op><=|>=|!=|!~|[-+*/&|<>=~.,()\[\]{}])
    """,
    re.VERBOSE | re.DOTALL,
)

_ESCAPES = {"'": "'", '"': '"', "`": "`", "r": "\r", "n": "\n", "t": "\t", "f": "\f", "\\": "\\", "/": "/"}


def _unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u" and i + 5 < len(body) + 0 and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    toks, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise FHIRPathSyntaxError(f"unexpected character {text[pos]!r} at offset {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            toks.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    toks.append(_Tok("eof", "", len(text)))
    return toks


# ------------------------------------------------------------------------------------------ parsing

_CALENDAR_UNITS = {
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
}

# binary operators by precedence level, lowest first (FHIRPath §"Operator precedence")
_LEVELS: list[tuple[str, ...]] = [
    ("implies",),
    ("or", "xor"),
    ("and",),
    ("in", "contains"),
    ("=", "~", "!=", "!~"),
    ("<", "<=", ">", ">="),
    ("|",),
    ("is", "as"),
    ("+", "-", "&"),
    ("*", "/", "div", "mod"),
]


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> _Tok:
        tok = self.next()
        if tok.text != text:
            raise self.error(tok, f"expected {text!r}")
        return tok

    def error(self, tok: _Tok, what: str) -> FHIRPathSyntaxError:
        found = repr(tok.text) if tok.kind != "eof" else "the end of the expression"
        return FHIRPathSyntaxError(f"{what} at offset {tok.pos}, found {found}")

    def _is_op(self, tok: _Tok, ops: tuple[str, ...]) -> bool:
        if tok.kind == "op":
            return tok.text in ops
        return tok.kind == "ident" and tok.text in ops and tok.text.isalpha()

    def parse(self):
        if self.peek().kind == "eof":
            raise FHIRPathSyntaxError("empty expression")
        node = self.expr(0)
        if self.peek().kind != "eof":
            raise self.error(self.peek(), "unexpected token")
        return node

    def expr(self, level: int):
        if level == len(_LEVELS):
            return self.unary()
        ops = _LEVELS[level]
        left = self.expr(level + 1)
        while self._is_op(self.peek(), ops):
            op = self.next().text
            if op in ("is", "as"):
                left = TypeOp(op, left, self.type_specifier())
            else:
                left = Binary(op, left, self.expr(level + 1))
        return left

    def type_specifier(self) -> str:
        parts = [self.identifier()]
        while self.peek().text == ".":
            self.next()
            parts.append(self.identifier())
        return ".".join(parts)

    def identifier(self) -> str:
        tok = self.next()
        if tok.kind == "ident":
            return tok.text
        if tok.kind == "delimited":
            return _unescape(tok.text[1:-1])
        raise self.error(tok, "expected an identifier")

    def unary(self):
        tok = self.peek()
        if tok.kind == "op" and tok.text in ("+", "-"):
            self.next()
            return Unary(tok.text, self.unary())
        return self.postfix()

    def postfix(self):
        node = self.term()
        while True:
            tok = self.peek()
            if tok.text == "." and tok.kind == "op":
                self.next()
                node = self.invocation(node)
            elif tok.text == "[" and tok.kind == "op":
                self.next()
                index = self.expr(0)
                self.expect("]")
                node = Indexer(node, index)
            else:
                return node

    def invocation(self, target):
        tok = self.peek()
        if tok.kind == "special":
            self.next()
            return This() if tok.text == "$this" else IndexVar()
        name = self.identifier()
        if self.peek().text == "(" and self.peek().kind == "op":
            return Call(target, name, self.arguments())
        if target is None:
            return Identifier(name)
        return Member(target, name)

    def arguments(self) -> tuple:
        self.expect("(")
        args = []
        if self.peek().text != ")":
            args.append(self.expr(0))
            while self.peek().text == ",":
                self.next()
                args.append(self.expr(0))
        self.expect(")")
        return tuple(args)

    def term(self):
        tok = self.peek()
        if tok.kind == "number":
            self.next()
            nxt = self.peek()
            if nxt.kind == "string" or (nxt.kind == "ident" and nxt.text in _CALENDAR_UNITS):
                self.next()
                unit = _unescape(nxt.text[1:-1]) if nxt.kind == "string" else nxt.text
                return Literal("quantity", tok.text, unit)
            return Literal("decimal" if "." in tok.text else "integer", tok.text)
        if tok.kind == "string":
            self.next()
            return Literal("string", _unescape(tok.text[1:-1]))
        if tok.kind == "datetime":
            self.next()
            body = tok.text[1:]
            return Literal("dateTime" if "T" in body else "date", body)
        if tok.kind == "time":
            self.next()
            return Literal("time", tok.text[2:])
        if tok.kind == "constant":
            self.next()
            body = tok.text[1:]
            if body[0] in "`'":
                body = _unescape(body[1:-1])
            return Constant(body)
        if tok.kind == "op" and tok.text == "(":
            self.next()
            node = self.expr(0)
            self.expect(")")
            return node
        if tok.kind == "op" and tok.text == "{":
            self.next()
            self.expect("}")
            return Literal("empty")
        if tok.kind == "ident" and tok.text in ("true", "false"):
            self.next()
            return Literal("boolean", tok.text == "true")
        if tok.kind in ("ident", "delimited", "special"):
            return self.invocation(None)
        raise self.error(tok, "expected a term")


def parse(text: str):
    """Parse one FHIRPath expression into the AST (FHIRPathSyntaxError if it is not valid)."""
    if not isinstance(text, str):
        raise FHIRPathSyntaxError(f"expected a FHIRPath string, got {type(text).__name__} {text!r}")
    return _Parser(text).parse()
