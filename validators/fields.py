"""Field specifications generated from the JSON Schemas: what the column checks test.

The schemas' regular expressions are written in the subset that Python ``re`` (used by
``jsonschema``) and RE2 (used by Arrow's vectorised matching) read the same way: ``[0-9]`` rather
than ``\\d``, anchors only at the ends. Two differences are bridged here: ``\\S`` (Unicode in Python,
ASCII in RE2) and ``$`` (Python also matches before a final newline).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache

from schemas.standard import ENTITIES, load_schema

#: Characters Python's ``str.isspace`` (hence ``str.strip`` and regex ``\s``) treats as blank.
BLANK_CHARS = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
_BLANK_CLASS = "".join(f"\\x{{{ord(c):x}}}" for c in BLANK_CHARS)
#: RE2: the value is empty or all blank.
RE2_BLANK = f"^[{_BLANK_CLASS}]*$"
#: RE2: the value has a non-blank character (Python's ``\S``).
RE2_NONBLANK = f"[^{_BLANK_CLASS}]"

NAIVE_DATETIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?)?$"


def to_re2(pattern: str) -> str:
    """A schema pattern as RE2 reads it the way Python ``re`` does."""
    return pattern.replace("\\S", RE2_NONBLANK)


def to_python(pattern: str) -> str:
    """A schema pattern for Python ``re.search`` with ECMA-262's ``$`` (end of input only)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + r"\Z"
    return pattern


@dataclass(frozen=True)
class FieldSpec:
    name: str
    index: int
    kind: str  # id | code | text | money | datetime | integer | flow
    json_type: str  # string | integer | array
    nullable: bool
    enum: tuple[str, ...] | None = None
    codelist: str | None = None
    pattern: str | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    personal: bool = False

    @property
    def re2(self) -> str | None:
        return to_re2(self.pattern) if self.pattern else None


@cache
def field_specs(entity: str) -> tuple[FieldSpec, ...]:
    schema = load_schema(entity)
    out = []
    for i, (name, p) in enumerate(schema["properties"].items()):
        t = p.get("type")
        types = t if isinstance(t, list) else [t]
        json_type = next(x for x in types if x != "null")
        kind = p["x-kind"]
        enum = p.get("enum")
        codelist = p.get("x-codelist")
        if kind == "flow":
            enum = p["items"]["enum"]
            codelist = p["items"]["x-codelist"]
        out.append(
            FieldSpec(
                name=name,
                index=i,
                kind=kind,
                json_type=json_type,
                nullable="null" in types,
                enum=tuple(e for e in enum if e is not None) if enum else None,
                codelist=codelist,
                pattern=p.get("pattern"),
                max_length=p.get("maxLength"),
                minimum=p.get("minimum"),
                maximum=p.get("maximum"),
                min_items=p.get("minItems"),
                max_items=p.get("maxItems"),
                personal=bool(p.get("x-personal")),
            )
        )
    return tuple(out)


@cache
def spec_map(entity: str) -> dict[str, FieldSpec]:
    return {s.name: s for s in field_specs(entity)}


@cache
def field_index(entity: str) -> dict[str, int]:
    return {s.name: s.index for s in field_specs(entity)}


@cache
def python_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(to_python(pattern))


def all_specs() -> dict[str, tuple[FieldSpec, ...]]:
    return {e: field_specs(e) for e in ENTITIES}
