"""Stable identities of judgments, so that importing the same data twice stores nothing twice.

Every judgment gets a 128-bit content ``digest`` (two signed 64-bit halves ``d1, d2``) computed from its
fields written as *names* (never integer codes, which depend on the order a file was read in). Its identity
in the store is then:

* its explicit id, when the source gave one (a known id arriving with a different digest is an error,
  never a silent overwrite);
* otherwise ``(digest, occurrence)``: the k-th identical anonymous row within one source has occurrence
  ``k``. A log where the same battle legitimately appears twice keeps both, and re-importing it adds
  nothing. (Two different files that each hold the same anonymous battle once store it once: give
  judgments ids to keep such rows apart.)

Content per shape:

* pairwise: a, b, outcome, strength, context, annotator, criterion, weight, rationale, tstamp;
* rankings: the tie groups of member names best first, context, annotator, criterion, and tstamp when known;
* ratings: item, score, scale_min, scale_max, attribute, context, annotator, criterion, and tstamp when known.

(Rankings and ratings fold their ``tstamp`` in only where it is known, so the keys of rows without one are
those of the stores written before timestamps were a column.)

The digest is vectorised: each distinct name or text is hashed once with BLAKE2b to two 64-bit lanes, a
float's lanes are its IEEE-754 bits passed through a bijective mixer (two seeds; -0.0 counts as 0.0), and
the per-row lanes are folded field by field with
``h = fmix64(h ^ field)`` (MurmurHash3's bijective finaliser), so two rows that differ in any field differ in
each lane except with probability about 2**-64 per lane. Not meant to resist adversarial inputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prefkit.data.index import ItemIndex
from prefkit.data.model import OUTCOME_NAMES, Dataset, PairwiseTable, RankingTable, RatingTable
from prefkit.errors import InputError

_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


@dataclass(frozen=True)
class JudgmentKeys:
    """Row-aligned identities of one judgment table.

    ``d1``/``d2``: the content digest (int64); ``occurrence``: int64, ``-1`` where the row has an explicit
    id; ``ids``: the explicit ids (``None`` where absent).
    """

    d1: np.ndarray
    d2: np.ndarray
    occurrence: np.ndarray
    ids: pa.Array

    def __len__(self) -> int:
        return len(self.d1)

    def insert_order(self) -> np.ndarray:
        """Anonymous rows by (digest, occurrence), then rows with ids by id: B-tree friendly."""
        anon = np.flatnonzero(self.occurrence >= 0)
        anon = anon[np.lexsort((self.occurrence[anon], self.d2[anon], self.d1[anon]))]
        named = np.flatnonzero(self.occurrence < 0)
        if len(named):
            order = pc.sort_indices(self.ids.take(pa.array(named))).to_numpy()
            named = named[order]
        return np.concatenate([anon, named]).astype(np.int64)


def _lanes(values: list[bytes]) -> np.ndarray:
    """(len(values), 2) uint64: BLAKE2b of each value, split into two lanes."""
    buf = b"".join(hashlib.blake2b(v, digest_size=16).digest() for v in values)
    return np.frombuffer(buf, dtype="<u8").reshape(-1, 2).astype(np.uint64)


_NULL = b"\x00null"
_NULL_LANES = _lanes([_NULL])[0]
_F1 = np.uint64(0x9E3779B97F4A7C15)
_F2 = np.uint64(0xD6E8FEB86659FD93)


def _fmix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


Lanes = dict[int, np.ndarray]  # per-import cache: id(ItemIndex) -> lanes of its names


def _name_field(index: ItemIndex, codes: np.ndarray, cache: Lanes) -> np.ndarray:
    """Lanes of the names of ``codes`` (``-1`` -> the null value, via numpy's last-row indexing)."""
    table = cache.get(id(index))
    if table is None or len(table) != len(index) + 1:
        table = _lanes([b"s" + n.encode("utf-8") for n in index.names] + [_NULL])
        cache[id(index)] = table
    return table[np.asarray(codes, dtype=np.int64)]


def _float_field(x: np.ndarray) -> np.ndarray:
    """Lanes of floats from their IEEE-754 bits (-0.0 counts as 0.0; nan is the null value)."""
    x = np.asarray(x, dtype=np.float64) + 0.0
    bits = np.ascontiguousarray(x).view(np.uint64)
    lanes = np.stack([_fmix(bits ^ _F1), _fmix(bits ^ _F2)], axis=1)
    nan = np.isnan(x)
    if nan.any():
        lanes[nan] = _NULL_LANES
    return lanes


def _text_field(col: pa.Array) -> np.ndarray:
    enc = pc.dictionary_encode(col.cast(pa.string()))
    table = _lanes([b"t" + t.encode("utf-8") for t in enc.dictionary.to_pylist()] + [_NULL])
    idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return table[idx]


def _fold(
    seed: bytes, n: int, fields: list[np.ndarray], known: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fold ``fields`` into the digest; the last field only into rows where ``known`` is true (if given)."""
    h = np.repeat(_lanes([seed]), n, axis=0)
    for k, f in enumerate(fields):
        if known is not None and k == len(fields) - 1:
            h = np.where(known[:, None], _fmix(h ^ f), h)
        else:
            h = _fmix(h ^ f)
    h = np.ascontiguousarray(h)
    return h[:, 0].view(np.int64).copy(), h[:, 1].view(np.int64).copy()


def _occurrence(d1: np.ndarray, d2: np.ndarray, ids: pa.Array) -> np.ndarray:
    """k for the k-th anonymous row with a given digest (in row order); -1 for rows with an id."""
    n = len(d1)
    occ = np.full(n, -1, dtype=np.int64)
    anon = np.flatnonzero(np.asarray(ids.is_null())) if len(ids) else np.zeros(0, np.int64)
    if not len(anon):
        return occ
    order = anon[np.lexsort((anon, d2[anon], d1[anon]))]  # stable: row order within a digest
    a, b = d1[order], d2[order]
    start = np.ones(len(order), dtype=bool)
    start[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    pos = np.arange(len(order))
    occ[order] = pos - np.maximum.accumulate(np.where(start, pos, 0))
    return occ


def _empty() -> JudgmentKeys:
    z = np.zeros(0, dtype=np.int64)
    return JudgmentKeys(d1=z, d2=z.copy(), occurrence=z.copy(), ids=pa.array([], type=pa.string()))


def _keys(d1: np.ndarray, d2: np.ndarray, ids: pa.Array) -> JudgmentKeys:
    ids = ids.cast(pa.string())
    return JudgmentKeys(d1=d1, d2=d2, occurrence=_occurrence(d1, d2, ids), ids=ids)


def pairwise_keys(ds: Dataset, t: PairwiseTable, cache: Lanes | None = None) -> JudgmentKeys:
    if not len(t):
        return _empty()
    cache = {} if cache is None else cache
    outcomes = _lanes([b"o" + o.encode() for o in OUTCOME_NAMES])
    fields = [
        _name_field(ds.items, t.a, cache),
        _name_field(ds.items, t.b, cache),
        outcomes[np.asarray(t.outcome, dtype=np.int64)],
        _float_field(t.strength),
        _name_field(ds.contexts, t.context, cache),
        _name_field(ds.annotators, t.annotator, cache),
        _name_field(ds.criteria, t.criterion, cache),
        _float_field(t.weight),
        _text_field(t.rationale),
        _float_field(t.tstamp),
    ]
    return _keys(*_fold(b"prefkit.pairwise.v1", len(t), fields), t.ids)


def ranking_keys(ds: Dataset, t: RankingTable, cache: Lanes | None = None) -> JudgmentKeys:
    if not len(t):
        return _empty()
    cache = {} if cache is None else cache
    names = ds.items.names
    members, level, offsets = t.members.tolist(), t.level.tolist(), t.offsets.tolist()
    texts = []
    for r in range(len(t)):
        parts: list[str] = []
        prev = None
        for j in range(offsets[r], offsets[r + 1]):
            if prev is not None:
                parts.append("\x1e" if level[j] == prev else "\x1d")
            parts.append(names[members[j]])
            prev = level[j]
        texts.append("".join(parts))
    fields = [
        _text_field(pa.array(texts, type=pa.string())),
        _name_field(ds.contexts, t.context, cache),
        _name_field(ds.annotators, t.annotator, cache),
        _name_field(ds.criteria, t.criterion, cache),
        _float_field(t.tstamp),
    ]
    return _keys(*_fold(b"prefkit.ranking.v1", len(t), fields, ~np.isnan(t.tstamp)), t.ids)


def rating_keys(ds: Dataset, t: RatingTable, cache: Lanes | None = None) -> JudgmentKeys:
    if not len(t):
        return _empty()
    cache = {} if cache is None else cache
    fields = [
        _name_field(ds.items, t.item, cache),
        _float_field(t.score),
        _float_field(t.scale_min),
        _float_field(t.scale_max),
        _name_field(ds.attributes, t.attribute, cache),
        _name_field(ds.contexts, t.context, cache),
        _name_field(ds.annotators, t.annotator, cache),
        _name_field(ds.criteria, t.criterion, cache),
        _float_field(t.tstamp),
    ]
    return _keys(*_fold(b"prefkit.rating.v1", len(t), fields, ~np.isnan(t.tstamp)), t.ids)


def check_unique_ids(keys: JudgmentKeys, lines: np.ndarray, *, source: str | None, shape: str) -> None:
    """Raise if one explicit id appears twice in a source with different content (same content: a duplicate)."""
    named = np.flatnonzero(keys.occurrence < 0)
    if len(named) < 2:
        return
    enc = pc.dictionary_encode(keys.ids.take(pa.array(named)))
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    _, first_pos = np.unique(idx, return_index=True)
    first = named[first_pos[idx]]
    bad = np.flatnonzero((keys.d1[named] != keys.d1[first]) | (keys.d2[named] != keys.d2[first]))
    if len(bad):
        i, j = int(named[bad[0]]), int(first[bad[0]])
        raise InputError(
            f"{shape} judgment id {keys.ids[i].as_py()!r} is used again with different content (first at "
            f"line {int(lines[j])}); give each judgment its own id",
            path=source,
            line=int(lines[i]) or None,
        )
