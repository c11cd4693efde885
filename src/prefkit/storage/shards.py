"""A battle log given as one file, a directory of Parquet shards, or a glob: the list of files, in order.

Both engines resolve the same argument the same way (sorted paths, spelled as the user spelled the directory
or pattern), so an error names the same shard whichever engine reads it.
"""

from __future__ import annotations

import glob
from pathlib import Path

from prefkit.errors import InputError

GLOB_CHARS = frozenset("*?[")


def is_pattern(spec: str | Path) -> bool:
    """True when ``spec`` is a glob pattern (and no file of that exact name exists)."""
    return not Path(spec).exists() and any(c in GLOB_CHARS for c in str(spec))


def _visible(p: Path, root: Path) -> bool:
    """Not a hidden or bookkeeping file (``.crc``, ``_SUCCESS``, ``_metadata``) below ``root``."""
    return not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)


def resolve_shards(spec: str | Path) -> list[Path]:
    """The files of ``spec``: itself (a file), its ``*.parquet`` files at any depth (a directory, e.g. Hive
    partitions), or the files matching it (a glob such as ``logs/2024-*/part-*.parquet``); sorted.

    InputError when there is no such file, the directory holds no Parquet file, or nothing matches.
    """
    p = Path(spec)
    if p.is_file():
        return [p]
    if p.is_dir():
        found = sorted(q for q in p.rglob("*.parquet") if q.is_file() and _visible(q, p))
        if not found:
            raise InputError(
                "no Parquet shards (*.parquet) in this directory; give a file, a directory of "
                "Parquet shards or a glob",
                path=p,
            )
        return found
    if is_pattern(spec):
        found = sorted(Path(m) for m in glob.glob(str(spec), recursive=True) if Path(m).is_file())
        if not found:
            raise InputError(
                "no file matches this pattern; check it (quote it so the shell leaves it to prefkit)",
                path=str(spec),
            )
        return found
    raise InputError("no such file; check the path", path=p)


def is_sharded(spec: str | Path) -> bool:
    """True for a directory or a glob (several shards), False for one file."""
    return Path(spec).is_dir() or is_pattern(spec)
