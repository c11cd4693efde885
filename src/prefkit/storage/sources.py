"""Which imports a ``--source NAME`` means: the path as given at import, its file name, or the same file.

Imports record the path exactly as it was given (``data/battles.jsonl``, ``/abs/battles.jsonl``, ...); users
then refer to it as they remember it. :func:`match_sources` accepts the recorded text, the file name alone, or
any path that resolves to the same file, and refuses a file name shared by different files.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from prefkit.errors import ValidationError


def _resolved(text: str) -> Path | None:
    try:
        return Path(text).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        return None


def match_sources(conn: sqlite3.Connection, source: str) -> list[str]:
    """The recorded sources that ``source`` names (ValidationError listing the known ones when none)."""
    known = [r[0] for r in conn.execute("SELECT source FROM imports GROUP BY source ORDER BY min(pk)")]
    known = [k for k in known if k is not None]
    if source in known:
        return [source]
    wanted = _resolved(source)
    same_file = [k for k in known if wanted is not None and _resolved(k) == wanted]
    if same_file:
        return same_file
    by_name = [k for k in known if Path(k).name == source]
    files = {_resolved(k) or Path(k) for k in by_name}
    if len(files) > 1:
        raise ValidationError(
            f"source {source!r} names {len(files)} different imported files ({', '.join(by_name)}); "
            "give the path as imported"
        )
    if by_name:
        return by_name
    listed = ", ".join(known[:20]) + (f", ... ({len(known)} in all)" if len(known) > 20 else "")
    raise ValidationError(
        f"source {source!r} was never imported; imported sources: {listed or '(none)'} "
        "(give one of them, its file name, or the same file's path)"
    )
