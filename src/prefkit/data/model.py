"""The columnar data model: items, contexts, annotators, criteria and three shapes of judgment.

Bulk data are numpy arrays indexed by integer codes (see :class:`~prefkit.data.index.ItemIndex`); names,
texts and other per-entity attributes live in small dicts at the edges.

Conventions
-----------
* ``-1`` in a code column means "absent" (no context, no annotator).
* Pairwise ``outcome``: ``OUTCOME_A`` (a preferred), ``OUTCOME_B``, ``OUTCOME_TIE``, ``OUTCOME_BOTH_BAD``
  (a tie in which both are bad: Chatbot Arena's ``tie (bothbad)``).
* Pairwise ``strength``: signed preference strength in ``[-3, 3]``, positive when ``a`` is preferred
  (HelpSteer2-Preference flips the sign: the readers convert); ``nan`` when not given.
* ``tstamp``: when the judgment was made, float Unix seconds (UTC); ``nan`` when the source does not say.
  Every judgment table has it.
* Rankings are stored CSR-style: ranking ``r`` has members ``members[offsets[r]:offsets[r+1]]``, best
  first, with ``level`` giving the tie group (members with equal level are tied).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pyarrow as pa

from prefkit.data.index import ItemIndex

OUTCOME_A = 0
OUTCOME_B = 1
OUTCOME_TIE = 2
OUTCOME_BOTH_BAD = 3
OUTCOME_NAMES = ("a", "b", "tie", "both_bad")
DEFAULT_CRITERION = "overall"
ANNOTATOR_KINDS = ("human", "model")


def _i32(x: Any, n: int, fill: int = -1) -> np.ndarray:
    if x is None:
        return np.full(n, fill, dtype=np.int32)
    return np.asarray(x, dtype=np.int32).reshape(-1)


def _f64(x: Any, n: int, fill: float = np.nan) -> np.ndarray:
    if x is None:
        return np.full(n, fill, dtype=np.float64)
    return np.asarray(x, dtype=np.float64).reshape(-1)


def _line(x: Any, n: int) -> np.ndarray:
    return np.zeros(n, dtype=np.int64) if x is None else np.asarray(x, dtype=np.int64).reshape(-1)


def _strings(x: Any, n: int) -> pa.Array:
    if x is None:
        return pa.nulls(n, type=pa.string())
    if isinstance(x, pa.ChunkedArray):
        x = x.combine_chunks()
    if isinstance(x, pa.Array):
        return x.cast(pa.string())
    return pa.array(list(x), type=pa.string())


class _Table:
    """Shared behaviour of the row-aligned judgment tables (every field has one entry per judgment)."""

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))  # type: ignore[arg-type]

    def take(self, idx: np.ndarray | Sequence[int]):
        idx = np.asarray(idx, dtype=np.int64)
        kw = {}
        for f in fields(self):  # type: ignore[arg-type]
            col = getattr(self, f.name)
            kw[f.name] = col.take(pa.array(idx)) if isinstance(col, pa.Array) else col[idx]
        return type(self)(**kw)

    @classmethod
    def concat(cls, tables: Sequence[Any]):
        if not tables:
            return cls.empty()  # type: ignore[attr-defined]
        kw = {}
        for f in fields(cls):  # type: ignore[arg-type]
            cols = [getattr(t, f.name) for t in tables]
            if isinstance(cols[0], pa.Array):
                kw[f.name] = pa.concat_arrays([c.cast(pa.string()) for c in cols])
            else:
                kw[f.name] = np.concatenate(cols)
        return cls(**kw)

    def equals(self, other: Any) -> bool:
        if type(self) is not type(other) or len(self) != len(other):
            return False
        for f in fields(self):  # type: ignore[arg-type]
            x, y = getattr(self, f.name), getattr(other, f.name)
            if isinstance(x, pa.Array):
                if not x.equals(y):
                    return False
            elif not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                return False
        return True


@dataclass(eq=False)
class PairwiseTable(_Table):
    """One row per pairwise judgment."""

    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    strength: np.ndarray
    context: np.ndarray
    annotator: np.ndarray
    criterion: np.ndarray
    weight: np.ndarray
    ids: pa.Array
    rationale: pa.Array
    line: np.ndarray
    tstamp: np.ndarray

    @classmethod
    def build(
        cls,
        a: Any,
        b: Any,
        outcome: Any,
        *,
        strength: Any = None,
        context: Any = None,
        annotator: Any = None,
        criterion: Any = None,
        weight: Any = None,
        ids: Any = None,
        rationale: Any = None,
        line: Any = None,
        tstamp: Any = None,
    ) -> PairwiseTable:
        a = _i32(a, 0)
        n = len(a)
        return cls(
            a=a,
            b=_i32(b, n),
            outcome=np.asarray(outcome, dtype=np.int8).reshape(-1),
            strength=_f64(strength, n),
            context=_i32(context, n),
            annotator=_i32(annotator, n),
            criterion=_i32(criterion, n, fill=0),
            weight=_f64(weight, n, fill=1.0),
            ids=_strings(ids, n),
            rationale=_strings(rationale, n),
            line=_line(line, n),
            tstamp=_f64(tstamp, n),
        )

    @classmethod
    def empty(cls) -> PairwiseTable:
        return cls.build(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int8))

    @property
    def is_tie(self) -> np.ndarray:
        return self.outcome >= OUTCOME_TIE


@dataclass(eq=False)
class RankingTable:
    """K-wise rankings, CSR layout (see module docstring)."""

    offsets: np.ndarray
    members: np.ndarray
    level: np.ndarray
    context: np.ndarray
    annotator: np.ndarray
    criterion: np.ndarray
    ids: pa.Array
    line: np.ndarray
    tstamp: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_lists(
        cls,
        rankings: Sequence[Sequence[Sequence[int]]],
        *,
        context: Any = None,
        annotator: Any = None,
        criterion: Any = None,
        ids: Any = None,
        line: Any = None,
        tstamp: Any = None,
    ) -> RankingTable:
        """``rankings[r]`` is a list of tie groups, best first, each a list of item codes."""
        sizes = [sum(len(g) for g in r) for r in rankings]
        offsets = np.zeros(len(rankings) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        members = np.fromiter(
            (i for r in rankings for g in r for i in g), dtype=np.int32, count=int(offsets[-1])
        )
        level = np.fromiter(
            (lvl for r in rankings for lvl, g in enumerate(r) for _ in g),
            dtype=np.int32,
            count=int(offsets[-1]),
        )
        n = len(rankings)
        return cls(
            offsets=offsets,
            members=members,
            level=level,
            context=_i32(context, n),
            annotator=_i32(annotator, n),
            criterion=_i32(criterion, n, fill=0),
            ids=_strings(ids, n),
            line=_line(line, n),
            tstamp=_f64(tstamp, n),
        )

    @classmethod
    def empty(cls) -> RankingTable:
        return cls.from_lists([])

    def groups(self, r: int) -> list[list[int]]:
        """Ranking ``r`` as tie groups of item codes, best first."""
        lo, hi = int(self.offsets[r]), int(self.offsets[r + 1])
        out: list[list[int]] = []
        prev = None
        for m, lv in zip(self.members[lo:hi].tolist(), self.level[lo:hi].tolist(), strict=True):
            if lv != prev:
                out.append([])
                prev = lv
            out[-1].append(m)
        return out

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, idx: np.ndarray | Sequence[int]) -> RankingTable:
        idx = np.asarray(idx, dtype=np.int64)
        return RankingTable.from_lists(
            [self.groups(int(r)) for r in idx],
            context=self.context[idx],
            annotator=self.annotator[idx],
            criterion=self.criterion[idx],
            ids=self.ids.take(pa.array(idx)),
            line=self.line[idx],
            tstamp=self.tstamp[idx],
        )

    @classmethod
    def concat(cls, tables: Sequence[RankingTable]) -> RankingTable:
        if not tables:
            return cls.empty()
        offs = [np.zeros(1, dtype=np.int64)]
        base = 0
        for t in tables:
            offs.append(t.offsets[1:] + base)
            base += int(t.offsets[-1])
        return cls(
            offsets=np.concatenate(offs),
            members=np.concatenate([t.members for t in tables]),
            level=np.concatenate([t.level for t in tables]),
            context=np.concatenate([t.context for t in tables]),
            annotator=np.concatenate([t.annotator for t in tables]),
            criterion=np.concatenate([t.criterion for t in tables]),
            ids=pa.concat_arrays([t.ids.cast(pa.string()) for t in tables]),
            line=np.concatenate([t.line for t in tables]),
            tstamp=np.concatenate([t.tstamp for t in tables]),
        )

    def equals(self, other: Any) -> bool:
        return (
            isinstance(other, RankingTable)
            and all(
                np.array_equal(getattr(self, k), getattr(other, k))
                for k in ("offsets", "members", "level", "context", "annotator", "criterion")
            )
            and self.ids.equals(other.ids)
            and np.array_equal(self.tstamp, other.tstamp, equal_nan=True)
        )


@dataclass(eq=False)
class RatingTable(_Table):
    """One row per (item, attribute) score on a declared scale."""

    item: np.ndarray
    score: np.ndarray
    scale_min: np.ndarray
    scale_max: np.ndarray
    attribute: np.ndarray
    context: np.ndarray
    annotator: np.ndarray
    criterion: np.ndarray
    ids: pa.Array
    line: np.ndarray
    tstamp: np.ndarray

    @classmethod
    def build(
        cls,
        item: Any,
        score: Any,
        scale_min: Any,
        scale_max: Any,
        *,
        attribute: Any = None,
        context: Any = None,
        annotator: Any = None,
        criterion: Any = None,
        ids: Any = None,
        line: Any = None,
        tstamp: Any = None,
    ) -> RatingTable:
        item = _i32(item, 0)
        n = len(item)
        return cls(
            item=item,
            score=_f64(score, n),
            scale_min=_f64(scale_min, n),
            scale_max=_f64(scale_max, n),
            attribute=_i32(attribute, n),
            context=_i32(context, n),
            annotator=_i32(annotator, n),
            criterion=_i32(criterion, n, fill=0),
            ids=_strings(ids, n),
            line=_line(line, n),
            tstamp=_f64(tstamp, n),
        )

    @classmethod
    def empty(cls) -> RatingTable:
        z = np.zeros(0)
        return cls.build(np.zeros(0, np.int32), z, z, z)


@dataclass(eq=False)
class ResponseTable(_Table):
    """The text of each item in a context: one row per ``(context, item)`` pair (a model's answer to a prompt).

    A leaderboard counts models (items), a judge reads texts: this table joins them. ``context`` and ``item``
    are codes into the dataset's indexes (``context`` is ``-1`` for items answered without a prompt); each
    ``(context, item)`` pair appears at most once.
    """

    context: np.ndarray
    item: np.ndarray
    text: pa.Array

    @classmethod
    def build(cls, context: Any, item: Any, text: Any) -> ResponseTable:
        item = _i32(item, 0)
        return cls(context=_i32(context, len(item)), item=item, text=_strings(text, len(item)))

    @classmethod
    def empty(cls) -> ResponseTable:
        return cls.build(np.zeros(0, np.int32), np.zeros(0, np.int32), [])

    def mapping(self) -> dict[tuple[int, int], str]:
        """``{(context, item): text}``."""
        return dict(
            zip(
                zip(self.context.tolist(), self.item.tolist(), strict=True),
                self.text.to_pylist(),
                strict=True,
            )
        )

    def lookup(self, context: np.ndarray, item: np.ndarray) -> list[str | None]:
        """The text of each ``(context[i], item[i])``, ``None`` where there is none."""
        m = self.mapping()
        return [m.get(k) for k in zip(np.asarray(context).tolist(), np.asarray(item).tolist(), strict=True)]


@dataclass(eq=False)
class Dataset:
    """Everything read from one source: the indexes, the three judgment tables and edge attributes.

    ``item_text`` / ``context_text`` map ids to their content (response text, prompt, or a media URI) when
    the items are texts; for model arenas they are empty. ``annotator_kind`` maps annotator ids to
    ``"human"`` or ``"model"``; ``annotator_groups`` to optional group attributes (pluralistic analyses).
    ``context_condition`` maps context ids to the system message / stated preference the judgment was made
    under (Janus), when the data give one.
    ``responses`` holds the text of an item *in a context* (a model's answer to one prompt), for data where
    items are models and the texts vary by prompt (arena logs with ``response_a``/``response_b``, llmfao).
    ``meta`` holds format details needed to write the data back (e.g. ``{"conversational": True}``).
    """

    items: ItemIndex = field(default_factory=ItemIndex)
    contexts: ItemIndex = field(default_factory=ItemIndex)
    annotators: ItemIndex = field(default_factory=ItemIndex)
    criteria: ItemIndex = field(default_factory=lambda: ItemIndex([DEFAULT_CRITERION]))
    attributes: ItemIndex = field(default_factory=ItemIndex)
    pairwise: PairwiseTable = field(default_factory=PairwiseTable.empty)
    rankings: RankingTable = field(default_factory=RankingTable.empty)
    ratings: RatingTable = field(default_factory=RatingTable.empty)
    responses: ResponseTable = field(default_factory=ResponseTable.empty)
    item_text: dict[str, str] = field(default_factory=dict)
    context_text: dict[str, str] = field(default_factory=dict)
    annotator_kind: dict[str, str] = field(default_factory=dict)
    annotator_groups: dict[str, dict[str, str]] = field(default_factory=dict)
    context_condition: dict[str, str] = field(default_factory=dict)  # context id -> system message (Janus)
    meta: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    @property
    def n_judgments(self) -> int:
        return len(self.pairwise) + len(self.rankings) + len(self.ratings)

    def __repr__(self) -> str:
        return (
            f"Dataset(items={len(self.items)}, pairwise={len(self.pairwise)}, rankings={len(self.rankings)}, "
            f"ratings={len(self.ratings)}, annotators={len(self.annotators)}, source={self.source!r})"
        )
