"""Helpers shared by the format modules."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from typing import Any

from prefkit.data._build import Builder


def name(value: Any) -> str | None:
    """A cell as an id string (None for missing/empty; integers and floats like 3.0 become "3")."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value)
    return text if text.strip() else None


def number(value: Any) -> float | None:
    """A cell as a float, None when missing; ValueError when not a number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return float(value)


def seconds(value: Any) -> float:
    """A timestamp cell as float Unix seconds (nan when missing): a number, or an ISO-8601 date-time string
    (without a zone it is taken as UTC). ValueError when it is neither."""
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool):
        raise ValueError("a boolean is not a time")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is neither Unix seconds nor an ISO-8601 date-time") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def text_id(*parts: str) -> str:
    """A short stable content id (16 hex chars) for texts: the same content gets the same id in every file."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(p.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def require(b: Builder, rec: dict[str, Any], line: int, keys: tuple[str, ...], what: str) -> bool:
    """Report (strict: raise) a record that lacks one of ``keys``."""
    missing = [k for k in keys if name(rec.get(k)) is None and not isinstance(rec.get(k), list)]
    if missing:
        b.ctx.problem(line, f"missing value for {', '.join(missing)}; every {what} needs {', '.join(keys)}")
        return False
    return True
