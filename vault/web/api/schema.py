"""The API's one input layer and the shared schema types (pydantic v2).

Every request body is a :class:`Body`, every query string a :class:`Query`, every
multipart upload a :class:`Form`; :func:`vault.web.routing.route` parses them before
the view runs and turns the first validation error into ``InvalidInput`` with a
stable code: ``missing_<field>``, ``invalid_<field>``, or the code a model names
(``page_too_large``, ``missing_content``...). Responses are :class:`Reply` models.
The same models generate the OpenAPI document, so a documented limit is the
enforced one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date
from enum import Enum
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from flask import Response, request
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from werkzeug.datastructures import FileStorage

from vault.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)

MAX_DEPTH = 8  # JSON nested deeper than this is refused (invalid_json)
INT32 = 2**31 - 1  # every id column is a 32-bit integer
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def refuse(code: str, message: str) -> PydanticCustomError:
    """A validation error that maps to ``code`` (raise it from a validator)."""
    return PydanticCustomError("vault", message, {"code": code})


def _safe(value: Any) -> Any:
    """Refuse text holding NUL or lone surrogates, in strings and lists of strings."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str):
            if "\x00" in item:
                raise PydanticCustomError("unsafe_text", "text must not hold NUL characters")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise PydanticCustomError(
                    "unsafe_text", "text must be valid Unicode (no lone surrogates)"
                ) from None
    return value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _iso_day(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("date_format", "a date YYYY-MM-DD is expected") from None
    if isinstance(value, date):
        return value
    raise PydanticCustomError("date_type", "a date YYYY-MM-DD is expected")


# ---- Shared field types --------------------------------------------------------------

Id = Annotated[int, Field(ge=1, le=INT32)]
"""A row id: a whole number (not a string, not 10.5) within the 32-bit column."""
Day = Annotated[
    date, BeforeValidator(_iso_day), WithJsonSchema({"type": "string", "format": "date"})
]
"""An ISO date, ``YYYY-MM-DD``."""
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An ISO 8601 date and time, as the API writes it."""
DayText = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
"""An ISO date, as the API writes it."""


def as_enum(enum: type[Enum]) -> BeforeValidator:
    """Before checking an enum field: text (stripped, lower-cased) to its member."""

    def convert(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return enum(value.strip().lower())
            except ValueError:
                return value
        return value

    return BeforeValidator(convert)


Lower = BeforeValidator(_lower)
"""Before checking a choice: strip and lower-case text (the services do the same)."""
Tier = Annotated[Literal["core", "special", "general"], Lower]
Purpose = Annotated[str, Field(max_length=500, description="why (audited)")]
Flag = Annotated[bool, Field(description="1|true|yes or 0|false|no")]


class Body(BaseModel):
    """A JSON request body: types are strict (``"3"`` is not an integer), text is safe."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)
    codes: ClassVar[Mapping[str, str]] = {}  # field -> its code when invalid

    @field_validator("*", mode="before")
    @classmethod
    def _safe_text(cls, value: Any) -> Any:
        return _safe(value)


def _takes_int(annotation: Any) -> bool:
    """Whether a field's type is a whole number (``int``, ``Id``, ``int | None``...)."""
    if annotation is int:
        return True
    if get_origin(annotation) is Annotated:
        return _takes_int(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return any(_takes_int(arg) for arg in get_args(annotation))
    return False


_WHOLE = re.compile(r"-?[0-9]{1,19}")


class Query(BaseModel):
    """A query string: values are text converted to the field's type; empty means unset.

    A whole number is written in decimal digits only: not ``10.5``, ``1e3``, ``1_0`` or
    ``0x10`` (which the lax conversion would otherwise read), nor past 19 digits.
    """

    model_config = ConfigDict(strict=False, extra="ignore", frozen=True)
    codes: ClassVar[Mapping[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _drop_empty(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data

    @field_validator("*", mode="before")
    @classmethod
    def _safe_text(cls, value: Any, info: ValidationInfo) -> Any:
        value = _safe(value)
        field = cls.model_fields.get(info.field_name or "")
        if (
            isinstance(value, str)
            and field is not None
            and _takes_int(field.annotation)
            and not _WHOLE.fullmatch(value)
        ):
            raise PydanticCustomError("int_parsing", "a whole number in decimal digits")
        return value


class LimitQuery(Query):
    """``limit``: a page above the configured cap is ``page_too_large``."""

    limit: int = Field(50, ge=1, le=10**9, description="page size (hard cap: page_too_large)")

    @field_validator("limit")
    @classmethod
    def _cap(cls, value: int, info: ValidationInfo) -> int:
        cap = (info.context or {}).get("page_size_max")
        if cap is not None and value > cap:
            raise refuse("page_too_large", f"at most {cap} rows per page")
        return value


class PageQuery(LimitQuery):
    """``limit`` and ``offset``."""

    offset: int = Field(0, ge=0, le=10**7, description="rows to skip")


def _a_file(value: Any) -> Any:
    if not isinstance(value, FileStorage):
        raise PydanticCustomError("file_type", "send a file (multipart, with a filename)")
    return value


Upload = Annotated[
    Any,
    AfterValidator(_a_file),
    WithJsonSchema({"type": "string", "format": "binary", "description": "the file"}),
]


class Form(BaseModel):
    """A multipart form with files (the werkzeug ``FileStorage`` of each)."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="ignore", frozen=True)
    codes: ClassVar[Mapping[str, str]] = {}


class Reply(BaseModel):
    """A JSON response body."""

    model_config = ConfigDict(frozen=True)


class Problem(Reply):
    """An RFC 9457 problem document (``application/problem+json``)."""

    type: str = ""
    title: str
    status: int
    code: str = Field(description="stable machine-readable error code")
    detail: str | None = None
    request_id: str | None = None


# ---- Parsing -------------------------------------------------------------------------


def _refusal(model: type[BaseModel], exc: ValidationError) -> InvalidInput:
    err = exc.errors(include_url=False, include_input=False)[0]
    loc = err.get("loc") or ()
    name = str(loc[0]) if loc else "body"
    ctx = err.get("ctx") or {}
    codes: Mapping[str, str] = getattr(model, "codes", {})
    if err["type"] == "vault":
        code = str(ctx["code"])
    elif err["type"] == "missing":
        code = f"missing_{name}"
    elif name in codes:
        code = codes[name]
    else:
        code = f"invalid_{name}"
    return InvalidInput(f"{name}: {err['msg']}", code=code)


def validate(model: type[M], data: Any, context: dict[str, Any]) -> M:
    """``data`` as ``model``, or ``InvalidInput`` with the first error's stable code."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise _refusal(model, exc) from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                return True
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return False


def json_object() -> dict[str, Any]:
    """The request's JSON object; an empty body is ``{}``; anything else is ``invalid_json``."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    if not request.is_json:
        raise InvalidInput(
            "send a JSON object with Content-Type: application/json", code="invalid_json"
        )
    try:
        data = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise InvalidInput("the body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", code="invalid_json")
    if _too_deep(data):
        raise InvalidInput(f"JSON nested deeper than {MAX_DEPTH} levels", code="invalid_json")
    return data


def parse_body(model: type[BaseModel], context: dict[str, Any]) -> BaseModel:
    """The request body as ``model`` (JSON, or a multipart form for a :class:`Form`)."""
    if issubclass(model, Form):
        data: dict[str, Any] = {**request.form.to_dict(), **request.files.to_dict()}
        return validate(model, data, context)
    return validate(model, json_object(), context)


def parse_query(model: type[BaseModel], context: dict[str, Any]) -> BaseModel:
    """The query string as ``model`` (the first value of each name)."""
    return validate(model, request.args.to_dict(), context)


def render(
    reply: BaseModel,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    *,
    exclude_unset: bool = False,
) -> Response:
    """A JSON response from a reply model (``exclude_unset``: leave out fields not given)."""
    return Response(
        reply.model_dump_json(exclude_unset=exclude_unset),
        status=status,
        mimetype="application/json",
        headers=dict(headers or {}),
    )
