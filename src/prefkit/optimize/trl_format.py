"""TRL dataset formats: text columns (plain or conversational), their Arrow and JSON-lines encodings, and the
same checks TRL applies (``trl.data_utils.apply_chat_template`` / ``is_conversational``).

A :class:`TextColumn` stores each distinct text once per chunk (``unique``) and an index per row, so a million
rows that reuse a few hundred thousand responses cost one encoding per response, not per row.

Formats (TRL's names): preference ``{prompt?, chosen, rejected}``, unpaired preference
``{prompt, completion, label}`` (KTO), prompt-completion ``{prompt, completion}`` (SFT, conditional training).
Conversational rows hold message lists: the prompt as ``[{"role": "user", "content": ...}]``, a response as
``[{"role": "assistant", "content": ...}]``; input that is already conversational (message lists stored as JSON
text, as prefkit's TRL reader keeps them) passes through unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from prefkit.errors import DataProblemError

TRL_KEY_SETS = (
    frozenset({"messages"}),
    frozenset({"prompt"}),
    frozenset({"prompt", "completion"}),
    frozenset({"prompt", "chosen", "rejected"}),
    frozenset({"chosen", "rejected"}),
    frozenset({"prompt", "completion", "label"}),
)
TRL_KEYS = frozenset({"prompt", "chosen", "rejected", "completion", "messages", "label"})
_MESSAGE_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class TextColumn:
    """Rows ``idx`` into distinct texts; ``messages`` says whether the cells are message lists."""

    unique: list[Any]  # str, or list of message dicts
    idx: np.ndarray
    messages: bool
    cache: dict[str, Any] = field(default_factory=dict)  # encodings of ``unique``, shared by slices

    def arrow(self) -> pa.Array:
        if "arrow" not in self.cache:
            self.cache["arrow"] = pa.array(self.unique, type=_MESSAGE_TYPE if self.messages else pa.string())
        return self.cache["arrow"].take(pa.array(self.idx))

    def json(self) -> np.ndarray:
        if "json" not in self.cache:
            self.cache["json"] = np.array(
                [json.dumps(u, ensure_ascii=False) for u in self.unique], dtype=object
            )
        return self.cache["json"][self.idx]

    def python(self, i: int) -> Any:
        return self.unique[int(self.idx[i])]


def text_column(
    texts: list[str], idx: np.ndarray, *, role: str, conversational: bool, stored_as_messages: bool
) -> TextColumn:
    """A column of ``texts[idx]``: plain strings, or message lists (wrapped in ``role`` or decoded JSON)."""
    if stored_as_messages:
        return TextColumn([_decode_messages(t) for t in texts], idx, True)
    if conversational:
        return TextColumn([[{"role": role, "content": t}] for t in texts], idx, True)
    return TextColumn(list(texts), idx, False)


def _decode_messages(text: str) -> list[dict[str, str]]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not _is_messages(value):
        raise DataProblemError(
            f"the input is marked conversational but a text is not a JSON message list: {text[:60]!r}; "
            'store messages as [{"role": ..., "content": ...}] or read the data as plain text'
        )
    return value


def _is_messages(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(
            isinstance(m, dict) and m.get("role") in ROLES and isinstance(m.get("content"), str)
            for m in value
        )
    )


def validate_example(example: dict[str, Any]) -> str:
    """Check one row the way TRL does; return its TRL format name or raise DataProblemError."""
    keys = frozenset(k for k in example if k in TRL_KEYS)
    if keys not in TRL_KEY_SETS:
        raise DataProblemError(
            f"columns {sorted(keys)} are not a TRL format; expected one of "
            + "; ".join("{" + ", ".join(sorted(s)) + "}" for s in TRL_KEY_SETS)
        )
    conv = [k for k in keys - {"label"} if isinstance(example[k], list)]
    if conv and len(conv) != len(keys - {"label"}):
        raise DataProblemError(
            "mixed row: some columns are message lists and others plain text; use one form"
        )
    for k in keys - {"label"}:
        v = example[k]
        if conv and not _is_messages(v):
            raise DataProblemError(f"column {k!r} is not a list of {{role, content}} messages")
        if not conv and not isinstance(v, str):
            raise DataProblemError(f"column {k!r} must be a string, found {type(v).__name__}")
    if "label" in keys and not isinstance(example["label"], bool | np.bool_):
        raise DataProblemError("column 'label' must be a boolean (desirable / undesirable)")
    kind = {
        frozenset({"messages"}): "language modeling",
        frozenset({"prompt"}): "prompt-only",
        frozenset({"prompt", "completion"}): "prompt-completion",
        frozenset({"prompt", "chosen", "rejected"}): "preference",
        frozenset({"chosen", "rejected"}): "preference (implicit prompt)",
        frozenset({"prompt", "completion", "label"}): "unpaired preference",
    }[keys]
    return ("conversational " if conv else "standard ") + kind


@dataclass(frozen=True)
class Columns:
    """One chunk of output rows: named text columns and numeric columns, all of the same length."""

    text: dict[str, TextColumn]
    numeric: dict[str, np.ndarray]
    order: tuple[str, ...]

    def __len__(self) -> int:
        for c in self.text.values():
            return len(c.idx)
        for a in self.numeric.values():
            return len(a)
        return 0

    def row(self, i: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in self.order:
            if k in self.text:
                out[k] = self.text[k].python(i)
            else:
                v = self.numeric[k][i]
                out[k] = v.item() if hasattr(v, "item") else v
        return out

    def arrow(self) -> pa.Table:
        arrays = {
            k: (self.text[k].arrow() if k in self.text else pa.array(self.numeric[k])) for k in self.order
        }
        return pa.table(arrays)

    def jsonl(self) -> str:
        """The rows as JSON lines (one string, ending with a newline when not empty)."""
        if len(self) == 0:
            return ""
        template = "{" + ", ".join(json.dumps(k).replace("%", "%%") + ": %s" for k in self.order) + "}"
        cols = [
            (self.text[k].json() if k in self.text else _json_numbers(self.numeric[k])).tolist()
            for k in self.order
        ]
        return "\n".join([template % vals for vals in zip(*cols, strict=True)]) + "\n"

    def take(self, idx: np.ndarray) -> Columns:
        """The rows ``idx`` (texts stay shared)."""
        text = {k: TextColumn(v.unique, v.idx[idx], v.messages, v.cache) for k, v in self.text.items()}
        return Columns(text, {k: v[idx] for k, v in self.numeric.items()}, self.order)


def _json_numbers(a: np.ndarray) -> np.ndarray:
    if a.dtype == bool:
        return np.where(a, "true", "false").astype(object)
    if a.dtype == object:
        return np.array([json.dumps(x) for x in a.tolist()], dtype=object)
    if a.dtype.kind in "iu":
        return a.astype(str).astype(object)
    return np.array([json.dumps(float(x)) for x in a.tolist()], dtype=object)
