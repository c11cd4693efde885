"""On-disk embedding cache: one SQLite file per encoder, rows keyed by the SHA-256 of the text.

A second training run on the same file finds every embedding here and never calls the encoder. The
location is ``$PREFKIT_CACHE`` (or ``~/.cache/prefkit/embeddings``); pass ``cache_dir`` to override.
Concurrent writers are safe (SQLite WAL, ``INSERT OR IGNORE``).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prefkit.reward.encoders import Encoder

_CHUNK = 500


def default_cache_dir() -> Path:
    env = os.environ.get("PREFKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "prefkit" / "embeddings"


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """Embeddings of one encoder (``model_name``) stored in ``cache_dir``."""

    def __init__(self, model_name: str, cache_dir: str | Path | None = None) -> None:
        self.dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name)[-60:]
        digest = hashlib.sha256(model_name.encode()).hexdigest()[:10]
        self.path = self.dir / f"{slug}-{digest}.sqlite"
        self.model_name = model_name

    def _connect(self) -> sqlite3.Connection:
        self.dir.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=60)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE IF NOT EXISTS emb (key BLOB PRIMARY KEY, vec BLOB NOT NULL) WITHOUT ROWID")
        return con

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``keys``."""
        found: dict[bytes, np.ndarray] = {}
        if not keys or not self.path.exists():
            return found
        con = self._connect()
        try:
            for lo in range(0, len(keys), _CHUNK):
                chunk = list(keys[lo : lo + _CHUNK])
                q = f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(chunk))})"
                for k, v in con.execute(q, chunk):
                    found[bytes(k)] = np.frombuffer(v, dtype=np.float32)
        finally:
            con.close()
        return found

    def put(self, keys: Sequence[bytes], vecs: np.ndarray) -> None:
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        con = self._connect()
        try:
            with con:
                con.executemany(
                    "INSERT OR IGNORE INTO emb (key, vec) VALUES (?, ?)",
                    ((k, vecs[i].tobytes()) for i, k in enumerate(keys)),
                )
        finally:
            con.close()

    def __len__(self) -> int:
        if not self.path.exists():
            return 0
        con = self._connect()
        try:
            return int(con.execute("SELECT COUNT(*) FROM emb").fetchone()[0])
        finally:
            con.close()


def embed(
    encoder: Encoder,
    texts: Sequence[str],
    *,
    cache: EmbeddingCache | None = None,
    progress: Callable[[int], Any] | None = None,
    on_missing: Callable[[int], Callable[[int], Any] | None] | None = None,
) -> tuple[np.ndarray, int]:
    """Embeddings of ``texts`` (duplicates embedded once), reading and filling ``cache``.

    Returns ``(embeddings, n_encoded)`` where ``n_encoded`` counts the texts that had to be encoded.
    ``on_missing(n)`` is called once with that count before encoding starts; it may return the progress
    callback to use (so a progress bar can be sized).
    """
    uniq: dict[str, int] = {}
    inverse = np.fromiter((uniq.setdefault(t, len(uniq)) for t in texts), dtype=np.int64, count=len(texts))
    utexts = list(uniq)
    keys = [text_key(t) for t in utexts]
    found = cache.get(keys) if cache is not None else {}
    missing = [i for i, k in enumerate(keys) if k not in found]
    if on_missing is not None:
        progress = on_missing(len(missing)) or progress
    new = encoder.encode([utexts[i] for i in missing], progress=progress) if missing else None
    if new is not None and cache is not None:
        cache.put([keys[i] for i in missing], new)
    dim = new.shape[1] if new is not None else (next(iter(found.values())).shape[0] if found else 0)
    out = np.empty((len(utexts), dim), dtype=np.float32)
    if new is not None:
        out[missing] = new
    for i, k in enumerate(keys):
        v = found.get(k)
        if v is not None:
            out[i] = v
    return out[inverse], len(missing)
