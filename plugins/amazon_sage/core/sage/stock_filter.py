"""STOCK_WHERE: the administrator's extra condition on STOCK, parsed by a small strict grammar.

The setting used to be pasted into the export's SQL, so ``1=1) UNION SELECT ... FROM SALES_ORDER --``
exported sales orders as products. Now it is parsed, and only a condition on STOCK's own
columns is accepted; the export runs SQL rebuilt from the parse, never the text itself:
column names come from :data:`STOCK_COLUMNS`, operators and keywords from the grammar, and
every literal becomes a ``?`` parameter. The grammar (keywords in any case)::

    condition   := or_term
    or_term     := and_term { OR and_term }
    and_term    := not_term { AND not_term }
    not_term    := NOT not_term | "(" or_term ")" | predicate
    predicate   := operand compare operand          -- at least one side a column
                 | column [NOT] BETWEEN operand AND operand
                 | column [NOT] IN "(" literal { "," literal } ")"
                 | column [NOT] LIKE string
                 | column IS [NOT] NULL
    compare     := "=" | "<>" | "!=" | "<" | "<=" | ">" | ">="
    operand     := column | literal
    literal     := number | string               -- number: [-]digits[.digits]; string: 'text', '' for '
    column      := one of STOCK_COLUMNS

Anything else is refused with a :class:`StockFilterError` naming the problem and where it is:
other tables' columns, subqueries, UNION, comments, semicolons, function calls, arithmetic,
quoted identifiers. Parsing does no I/O, so a DAG file can check the setting as it is parsed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# STOCK's columns: docs sage50-odbc.md section 4.1, the same list as include/sample_company/schema.sql
# (a test keeps the two equal). Bill-of-materials and history columns are left out: the sample company
# lacks them, so a condition on them could not be tested before it reached a real Sage.
STOCK_COLUMNS = frozenset((
    "STOCK_CODE", "DESCRIPTION", "UNIT_OF_SALE", "NOMINAL_CODE", "PURCHASE_NOMINAL_CODE", "PURCHASE_REF",
    "SUPPLIER_PART_NUMBER", "LOCATION", "COMMODITY_CODE", "INTRASTAT_COMM_CODE", "BARCODE", "SALES_PRICE",
    "LAST_PURCHASE_PRICE", "LAST_DISC_PURCHASE_PRICE", "AVERAGE_COST_PRICE", "QTY_IN_STOCK", "QTY_ALLOCATED",
    "QTY_ON_ORDER", "QTY_LAST_ORDER", "QTY_REORDER", "QTY_REORDER_LEVEL", "QTY_LAST_STOCK_TAKE", "QTY_MAKEUP",
    "TAX_CODE", "DEPT_NUMBER", "DEPT_NAME", "STOCK_CAT", "STOCK_CAT_NAME", "UNIT_WEIGHT", "WEB_DESCRIPTION",
    "WEB_DETAILS", "WEB_CATEGORY_1", "WEB_CATEGORY_2", "WEB_CATEGORY_3", "WEB_IMAGE_FILE", "WEB_PUBLISH",
    "WEB_SPECIAL", "IGNORE_STK_LVL_FLAG", "INACTIVE_FLAG", "ASSEMBLY_LEVEL", "LINK_LEVEL", "HAS_NO_COMPONENT",
    "HAS_BOM", "STOCK_TAKE_DATE", "LAST_SALE_DATE", "LAST_PURCHASE_DATE", "THIS_RECORD", "RECORD_CREATE_DATE",
    "RECORD_MODIFY_DATE", "RECORD_DELETED",
))
KEYWORDS = frozenset(("AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "BETWEEN"))
COMPARISONS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
# Words that mean someone is writing more than a condition; named in the refusal so it is plain why.
STATEMENT_WORDS = frozenset(("SELECT", "UNION", "FROM", "JOIN", "WHERE", "INSERT", "UPDATE", "DELETE", "DROP",
                             "CREATE", "ALTER", "EXEC", "EXECUTE", "INTO", "HAVING", "GROUP", "ORDER", "LIMIT",
                             "TOP", "EXISTS", "CASE", "WHEN", "CAST", "INTERSECT", "EXCEPT", "ALL", "ANY"))
MAX_DIGITS = 15  # a double holds 15 significant digits exactly; longer literals are refused, not rounded
LITERAL_LIMIT = 1000  # values in one IN list: far more than a filter needs, below any driver's marker limit

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>--|/\*|\*/|\#)
  | (?P<string>'(?:[^']|'')*')
  | (?P<unterminated>')
  | (?P<number>\d+(?:\.\d+)?(?![A-Za-z0-9_.]))
  | (?P<bad_number>\d[A-Za-z0-9_.]*)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<compare><=|>=|<>|!=|=|<|>)
  | (?P<punct>[(),-])
""", re.VERBOSE)


class StockFilterError(ValueError):
    """STOCK_WHERE is not a condition this grammar accepts; the message says what and where."""


@dataclass(frozen=True)
class StockFilter:
    """The accepted condition as SQL with ``?`` markers (columns and keywords only) and its values."""

    sql: str
    params: tuple[Any, ...]


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "number", "string", "compare", "punct", "end"
    text: str
    position: int  # 1-based character position in the setting, for messages

    @property
    def upper(self) -> str:
        return self.text.upper()


def _refuse(problem: str, token: _Token | None = None) -> StockFilterError:
    where = f" at character {token.position}" if token is not None and token.kind != "end" else ""
    return StockFilterError(f"STOCK_WHERE is refused{where}: {problem}. It must be one condition on STOCK's own "
                            "columns (comparisons, AND/OR/NOT, parentheses, IN, LIKE, IS [NOT] NULL, BETWEEN, "
                            "numbers and 'strings'); see the README.")


def _character_problem(char: str) -> str:
    if char == ";":
        return "a semicolon is not allowed (one condition, not statements)"
    if char in "\"`[]":
        return f"quoted names ({char}) are not allowed: write STOCK's column names bare"
    if char == ".":
        return "qualified names (TABLE.COLUMN) are not allowed: name STOCK's own columns bare"
    if char in "+*/%|&^~":
        return f"arithmetic or operator {char!r} is not allowed"
    return f"the character {char!r} is not allowed"


def _tokens(text: str) -> tuple[list[_Token], list[tuple[str, _Token]]]:
    """The tokens of ``text`` and the problems met on the way (tokenizing goes on past them)."""
    found: list[_Token] = []
    problems: list[tuple[str, _Token]] = []
    offset = 0
    while offset < len(text):
        match = _TOKEN.match(text, offset)
        if match is None:
            problems.append((_character_problem(text[offset]), _Token("punct", text[offset], offset + 1)))
            offset += 1
            continue
        kind = match.lastgroup or ""
        token = _Token(kind, match.group(), offset + 1)
        if kind == "comment":
            problems.append(("comments (--, /* */, #) are not allowed", token))
        elif kind == "bad_number":
            problems.append((f"{token.text} is not a number this filter accepts (digits, optionally a decimal "
                             "point and more digits)", token))
        elif kind == "unterminated":
            problems.append(("a string is not closed (quote it as 'text', doubling any ' inside)", token))
        elif kind != "space":
            found.append(token)
        offset = match.end()
    found.append(_Token("end", "", len(text) + 1))
    return found, problems


class _Parser:
    """Recursive descent over screened tokens (see :func:`_screen`), emitting canonical SQL and collecting literals."""

    def __init__(self, tokens: list[_Token]):
        self.tokens, self.index = tokens, 0
        self.params: list[Any] = []

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.current
        self.index += 1
        return token

    def _is_word(self, *words: str) -> bool:
        return self.current.kind == "word" and self.current.upper in words

    def _expect_word(self, word: str) -> None:
        if not self._is_word(word):
            raise _refuse(f"expected {word} but found {self._describe(self.current)}", self.current)
        self._advance()

    def _expect_punct(self, char: str) -> None:
        if not (self.current.kind == "punct" and self.current.text == char):
            raise _refuse(f"expected {char!r} but found {self._describe(self.current)}", self.current)
        self._advance()

    @staticmethod
    def _describe(token: _Token) -> str:
        return "the end of the condition" if token.kind == "end" else repr(token.text)

    def condition(self) -> str:
        if self.current.kind == "end":
            raise _refuse("the condition is empty")
        sql = self._or()
        if self.current.kind != "end":
            raise _refuse(f"unexpected {self._describe(self.current)} after a complete condition", self.current)
        return sql

    def _or(self) -> str:
        parts = [self._and()]
        while self._is_word("OR"):
            self._advance()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def _and(self) -> str:
        parts = [self._not()]
        while self._is_word("AND"):
            self._advance()
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def _not(self) -> str:
        if self._is_word("NOT"):
            self._advance()
            return f"(NOT ({self._not()}))"
        if self.current.kind == "punct" and self.current.text == "(":
            self._advance()
            inner = self._or()
            self._expect_punct(")")
            return inner
        return self._predicate()

    def _predicate(self) -> str:
        subject_token = self.current
        subject, is_column = self._operand()
        if self.current.kind == "compare":
            operator = COMPARISONS[self._advance().text]
            other_token = self.current
            other, other_is_column = self._operand()
            if not (is_column or other_is_column):
                raise _refuse("a comparison must name a STOCK column (two values, like 1=1, are not a filter)",
                              other_token)
            return f"{subject} {operator} {other}"
        if self.current.kind == "punct" and self.current.text == "-":
            raise _refuse("arithmetic is not allowed", self.current)
        if not is_column and (self._is_word("IS", "IN", "LIKE", "BETWEEN", "NOT")):
            raise _refuse(f"{self.current.upper} needs a STOCK column before it", subject_token)
        if self._is_word("IS"):
            self._advance()
            negated = self._is_word("NOT")
            if negated:
                self._advance()
            self._expect_word("NULL")
            return f"{subject} IS {'NOT ' if negated else ''}NULL"
        negated = self._is_word("NOT")
        if negated:
            self._advance()
        prefix = f"{subject} {'NOT ' if negated else ''}"
        if self._is_word("BETWEEN"):
            self._advance()
            low, _ = self._operand()
            self._expect_word("AND")
            high, _ = self._operand()
            return f"({prefix}BETWEEN {low} AND {high})"  # its AND kept apart from the condition's
        if self._is_word("IN"):
            self._advance()
            self._expect_punct("(")
            markers = [self._listed()]
            while self.current.kind == "punct" and self.current.text == ",":
                self._advance()
                markers.append(self._listed())
                if len(markers) > LITERAL_LIMIT:
                    raise _refuse(f"an IN list may hold at most {LITERAL_LIMIT} values", self.current)
            self._expect_punct(")")
            return f"{prefix}IN ({', '.join(markers)})"
        if self._is_word("LIKE"):
            self._advance()
            if self.current.kind != "string":
                raise _refuse(f"LIKE takes a 'pattern' in quotes, not {self._describe(self.current)}", self.current)
            return f"{prefix}LIKE {self._literal()}"
        if negated:
            raise _refuse(f"NOT after a column must be followed by BETWEEN, IN or LIKE, not "
                          f"{self._describe(self.current)}", self.current)
        raise _refuse(f"expected a comparison, BETWEEN, IN, LIKE or IS [NOT] NULL after {subject_token.text!r}, "
                      f"found {self._describe(self.current)}", self.current)

    def _operand(self) -> tuple[str, bool]:
        """A column (its canonical name) or a literal (a marker); and whether it was a column."""
        token = self.current
        if token.kind == "word" and token.upper not in KEYWORDS:
            self._advance()
            name = token.upper
            if self.current.kind == "punct" and self.current.text == "(":
                raise _refuse(f"function calls are not allowed ({token.text}(...))", token)
            if name in STOCK_COLUMNS:
                return name, True
            if name in {"TRUE", "FALSE"}:
                raise _refuse(f"{name} is not a STOCK column (compare a column with 1 or 0)", token)
            close = difflib.get_close_matches(name, sorted(STOCK_COLUMNS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise _refuse(f"{token.text} is not a column of STOCK{hint}", token)
        if token.kind == "punct" and token.text == "(":
            raise _refuse("parentheses around a value are not allowed (a subquery or arithmetic would need them)",
                          token)
        return self._literal(), False

    def _listed(self) -> str:
        """One value of an IN list: a number or a string, never a column."""
        if self.current.kind == "word" and self.current.upper != "NULL":
            raise _refuse(f"an IN list holds numbers and 'strings' only, not {self.current.text}", self.current)
        return self._literal()

    def _literal(self) -> str:
        token = self.current
        sign = ""
        if token.kind == "punct" and token.text == "-":
            self._advance()
            sign = "-"
            if self.current.kind != "number":
                raise _refuse("a minus sign must be followed by a number (no arithmetic)", token)
        literal = self.current
        if literal.kind == "number":
            self._advance()
            if len(literal.text.replace(".", "").lstrip("0")) > MAX_DIGITS:
                raise _refuse(f"the number {literal.text} has more than {MAX_DIGITS} digits", literal)
            value = Decimal(sign + literal.text)
            # Sage keeps numbers as doubles: an integer binds as an integer, anything else as the nearest double.
            self.params.append(int(value) if "." not in literal.text else float(value))
            return "?"
        if literal.kind == "string":
            self._advance()
            self.params.append(literal.text[1:-1].replace("''", "'"))
            return "?"
        if literal.kind == "word" and literal.upper == "NULL":
            raise _refuse("NULL is not a value here: write column IS NULL or column IS NOT NULL", literal)
        raise _refuse(f"expected a STOCK column, a number or a 'string', found {self._describe(literal)}", literal)


def _screen(tokens: list[_Token], problems: list[tuple[str, _Token]]) -> None:
    """Refuse the marks of an injection before parsing, so the message names them, not a symptom.

    Statement words (UNION, SELECT, ...) come first, then what tokenizing met (comments,
    semicolons, stray characters), then parentheses that close more than they open.
    """
    for token in tokens:
        if token.kind == "word" and token.upper in STATEMENT_WORDS:
            raise _refuse(f"{token.upper} is not allowed", token)
    if problems:
        raise _refuse(*problems[0])
    depth = 0
    for token in tokens:
        if token.kind == "punct" and token.text in "()":
            depth += 1 if token.text == "(" else -1
            if depth < 0:
                raise _refuse("this ')' closes a parenthesis the condition never opened", token)
    if depth > 0:
        raise _refuse("a '(' is never closed")


def parse_stock_filter(text: str) -> StockFilter | None:
    """Parse STOCK_WHERE; None when it is empty. Raises :class:`StockFilterError` for anything outside the grammar."""
    if not text.strip():
        return None
    tokens, problems = _tokens(text)
    _screen(tokens, problems)
    parser = _Parser(tokens)
    sql = parser.condition()
    return StockFilter(sql, tuple(parser.params))
