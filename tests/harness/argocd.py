"""Runs deploy/argocd's health scripts the way Argo CD does: a Lua 5.1 chunk with the
object as the global `obj`, returning {status, message}."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PATCH = Path(__file__).resolve().parents[2] / "deploy" / "argocd" / "argocd-cm-health.yaml"
PREFIX = "resource.customizations.health."


def scripts() -> dict[str, str]:
    """Kind -> script, from the ConfigMap patch users apply."""
    data = yaml.safe_load(PATCH.read_text())["data"]
    return {key.rsplit("_", 1)[1]: script for key, script in data.items() if key.startswith(PREFIX)}


def health(obj: dict[str, Any]) -> tuple[str, str]:
    import lupa.lua51  # gopher-lua, which Argo CD embeds, speaks Lua 5.1

    lua = lupa.lua51.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(scripts()[obj["kind"]])
    return str(result["status"]), str(result["message"])
