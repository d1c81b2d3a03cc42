"""A small vocabulary for OpenAPI v3 schemas as the apiserver wants them.

Every builder takes a description first: `kubectl explain` is how users learn the
API, so a field without one cannot be written.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Go-style durations with days added, e.g. "90m", "1h30m", "8d".
DURATION = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$"


def rule(expression: str, message: str, *, field_path: str | None = None,
         reason: str | None = None) -> dict[str, str]:
    """A CEL validation rule with the message the user sees on rejection."""
    out = {"rule": expression, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


def _finish(schema: Schema, description: str, *, default: Any = None,
            rules: list[dict[str, str]] | None = None) -> Schema:
    schema["description"] = " ".join(description.split())
    if default is not None:
        schema["default"] = default
    if rules:
        schema["x-kubernetes-validations"] = rules
    return schema


def string(description: str, *, enum: list[str] | None = None, pattern: str | None = None,
           default: str | None = None, max_length: int | None = 253, min_length: int | None = None,
           fmt: str | None = None, rules: list[dict[str, str]] | None = None) -> Schema:
    schema: Schema = {"type": "string"}
    if enum:
        schema["enum"] = enum
    if pattern:
        schema["pattern"] = pattern
    if fmt:
        schema["format"] = fmt
    if max_length is not None and not enum and fmt != "date-time":
        schema["maxLength"] = max_length
    if min_length is not None:
        schema["minLength"] = min_length
    return _finish(schema, description, default=default, rules=rules)


def timestamp(description: str) -> Schema:
    return string(description, fmt="date-time")


def integer(description: str, *, minimum: int | None = None, maximum: int | None = None,
            default: int | None = None, int64: bool = False) -> Schema:
    schema: Schema = {"type": "integer"}
    if int64:
        schema["format"] = "int64"
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return _finish(schema, description, default=default)


def boolean(description: str, *, default: bool | None = None,
            rules: list[dict[str, str]] | None = None) -> Schema:
    return _finish({"type": "boolean"}, description, default=default, rules=rules)


def array(description: str, items: Schema, *, max_items: int = 100,
          list_type: str | None = None, list_map_keys: list[str] | None = None) -> Schema:
    schema: Schema = {"type": "array", "items": items, "maxItems": max_items}
    if list_type:
        schema["x-kubernetes-list-type"] = list_type
    if list_map_keys:
        schema["x-kubernetes-list-map-keys"] = list_map_keys
    return _finish(schema, description)


def string_map(description: str, *, max_properties: int = 64) -> Schema:
    schema: Schema = {"type": "object", "maxProperties": max_properties,
                      "additionalProperties": {"type": "string", "maxLength": 4096}}
    return _finish(schema, description)


def quantity_map(description: str) -> Schema:
    """A map of resource names to quantities ("500m", "1Gi", 2)."""
    quantity = {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "x-kubernetes-int-or-string": True,
        "pattern": (r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
                    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"),
    }
    schema: Schema = {"type": "object", "maxProperties": 16, "additionalProperties": quantity}
    return _finish(schema, description)


def obj(description: str, properties: dict[str, Schema], *, required: list[str] | None = None,
        rules: list[dict[str, str]] | None = None, default: Any = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        unknown = set(required) - set(properties)
        if unknown:
            raise ValueError(f"required fields not in properties: {sorted(unknown)}")
        schema["required"] = list(required)
    return _finish(schema, description, default=default, rules=rules)


def immutable(schema: Schema, what: str) -> Schema:
    """Adds a transition rule that refuses any change once the object exists."""
    rules = list(schema.get("x-kubernetes-validations", []))
    rules.append(rule("self == oldSelf", f"{what} is immutable once set"))
    schema["x-kubernetes-validations"] = rules
    return schema
