"""Judged pairs with their texts: the input of the dissection, consistency and annotator analyses.

:class:`JudgedPairs` holds one row per pairwise judgment as integer-coded arrays (items, contexts,
annotators, categories) plus the prompt and the two response texts (``None`` where unknown). It is built
from a :class:`~prefkit.data.model.Dataset` (:meth:`JudgedPairs.from_dataset`) or by a source-specific
adapter (:mod:`prefkit.analysis.llmfao`, which joins llmfao's crowd and GPT-4 logs read by the shared reader). :func:`property_differences` turns it into the matrix the
dissection fits, computing each distinct text's properties once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from prefkit.analysis.properties import DEFAULT_COMPUTED, PropertyTable, computed_properties
from prefkit.data.model import Dataset
from prefkit.errors import DataProblemError, ValidationError

BY_CHOICES = ("all", "judge", "annotator", "kind", "category")
NO_ANNOTATOR = "(no annotator)"


@dataclass(frozen=True, eq=False)
class JudgedPairs:
    """Pairwise judgments with names and texts (arrays have one entry per judgment)."""

    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    annotator: np.ndarray
    context: np.ndarray
    item_names: tuple[str, ...]
    annotator_names: tuple[str, ...] = ()
    annotator_kind: Mapping[str, str] = field(default_factory=dict)
    annotator_groups: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    prompt: Sequence[str | None] | None = None
    text_a: Sequence[str | None] | None = None
    text_b: Sequence[str | None] | None = None
    category: np.ndarray | None = None
    category_names: tuple[str, ...] = ()
    seconds: np.ndarray | None = None
    source: str | None = None

    def __len__(self) -> int:
        return len(self.a)

    @classmethod
    def from_dataset(cls, ds: Dataset) -> JudgedPairs:
        """The pairwise table of ``ds`` with texts from ``item_text`` (or the responses table, for items that are
        models answering prompts) and ``context_text`` (``None`` if absent)."""
        pw = ds.pairwise
        if not len(pw):
            raise DataProblemError(
                f"{ds.source or 'the data'}: no pairwise judgments (convert rankings or ratings to pairs first)"
            )
        names = tuple(ds.items.names)
        ctx_names = tuple(ds.contexts.names)
        item_text = [ds.item_text.get(n) for n in names]
        ctx_text = [ds.context_text.get(n) for n in ctx_names]
        answers = ds.responses.mapping() if len(ds.responses) else {}  # (context, item) -> the model's answer

        def text(c: int, i: int) -> str | None:
            t = item_text[i]
            return t if t is not None else answers.get((c, i))

        ctx_codes = pw.context.tolist()
        ta = [text(c, i) for c, i in zip(ctx_codes, pw.a.tolist(), strict=True)]
        tb = [text(c, i) for c, i in zip(ctx_codes, pw.b.tolist(), strict=True)]
        pr = [ctx_text[c] if c >= 0 else None for c in pw.context.tolist()]
        has_text = any(t is not None for t in ta)
        return cls(
            a=pw.a.astype(np.int32),
            b=pw.b.astype(np.int32),
            outcome=pw.outcome.astype(np.int8),
            annotator=pw.annotator.astype(np.int32),
            context=pw.context.astype(np.int32),
            item_names=names,
            annotator_names=tuple(ds.annotators.names),
            annotator_kind=dict(ds.annotator_kind),
            annotator_groups=dict(ds.annotator_groups),
            prompt=pr if has_text else None,
            text_a=ta if has_text else None,
            text_b=tb if has_text else None,
            source=ds.source,
        )

    def take(self, idx: np.ndarray) -> JudgedPairs:
        def sub(seq: Sequence[str | None] | None) -> list[str | None] | None:
            return None if seq is None else [seq[i] for i in idx.tolist()]

        return JudgedPairs(
            a=self.a[idx],
            b=self.b[idx],
            outcome=self.outcome[idx],
            annotator=self.annotator[idx],
            context=self.context[idx],
            item_names=self.item_names,
            annotator_names=self.annotator_names,
            annotator_kind=self.annotator_kind,
            annotator_groups=self.annotator_groups,
            prompt=sub(self.prompt),
            text_a=sub(self.text_a),
            text_b=sub(self.text_b),
            category=None if self.category is None else self.category[idx],
            category_names=self.category_names,
            seconds=None if self.seconds is None else self.seconds[idx],
            source=self.source,
        )


def require_texts(pairs: JudgedPairs) -> tuple[Sequence[str | None], Sequence[str | None]]:
    """The two response texts of every judgment; DataProblemError naming the gap when any is missing."""
    where = pairs.source or "the data"
    if pairs.text_a is None or pairs.text_b is None:
        raise DataProblemError(
            f"{where}: the judgments carry no response texts, so text properties cannot be computed; use a "
            "file with texts (TRL / prefkit JSONL with item texts) or give property columns (--properties COLS)"
        )
    missing = [
        i for i, (x, y) in enumerate(zip(pairs.text_a, pairs.text_b, strict=True)) if x is None or y is None
    ]
    if missing:
        raise DataProblemError(
            f"{where}: {len(missing)} of {len(pairs)} judgments lack a response text (first: judgment "
            f"{missing[0] + 1}); add the texts or drop those judgments"
        )
    return pairs.text_a, pairs.text_b


def property_differences(
    pairs: JudgedPairs, names: Sequence[str] = DEFAULT_COMPUTED
) -> tuple[np.ndarray, tuple[str, ...]]:
    """``props(a) - props(b)`` of every judgment for the computed properties ``names``."""
    ta, tb = require_texts(pairs)
    prompts = pairs.prompt if pairs.prompt is not None else [None] * len(pairs)
    keys: dict[tuple[str | None, str | None], int] = {}
    ia = np.fromiter(
        (keys.setdefault(k, len(keys)) for k in zip(prompts, ta, strict=True)), np.int64, len(ta)
    )
    ib = np.fromiter(
        (keys.setdefault(k, len(keys)) for k in zip(prompts, tb, strict=True)), np.int64, len(tb)
    )
    uniq = list(keys)
    table = computed_properties([t for _, t in uniq], [p for p, _ in uniq], names)
    return table.values[ia] - table.values[ib], table.names


def item_property_differences(pairs: JudgedPairs, table: PropertyTable) -> np.ndarray:
    """``table[a] - table[b]`` for a per-item property table (row ``k`` = item code ``k``)."""
    if len(table) != len(pairs.item_names):
        raise ValidationError(
            f"property table: expected one row per item ({len(pairs.item_names)}), got {len(table)}"
        )
    return table.values[pairs.a] - table.values[pairs.b]


def group_codes(pairs: JudgedPairs, by: str) -> tuple[np.ndarray, list[str]]:
    """Group code per judgment and the group names for ``by``.

    ``all`` (one group), ``annotator`` (each annotator), ``kind`` (human / model), ``judge`` (humans pooled
    as ``human``, each model annotator on its own), ``category`` (the prompt category), or the name of an
    annotator group attribute (``annotator_groups``). Judgments that name no annotator form the group
    ``(no annotator)``.
    """
    n = len(pairs)
    if by == "all":
        return np.zeros(n, dtype=np.int64), ["all"]
    if by == "category":
        if pairs.category is None:
            raise ValidationError("--by category: these judgments have no prompt categories")
        return pairs.category.astype(np.int64), list(pairs.category_names)
    ann = pairs.annotator.astype(np.int64)
    if by == "annotator":
        labels = list(pairs.annotator_names)
    elif by in ("kind", "judge"):
        labels = []
        for name in pairs.annotator_names:  # judgments by no named annotator form their own group below
            kind = pairs.annotator_kind.get(name, "human")
            labels.append(kind if by == "kind" or kind != "model" else name)
    else:
        attrs = (
            set().union(*(set(v) for v in pairs.annotator_groups.values()))
            if pairs.annotator_groups
            else set()
        )
        if by not in attrs:
            known = ", ".join([*BY_CHOICES, *sorted(attrs)])
            raise ValidationError(f"unknown group column {by!r}; choose one of: {known}")
        labels = [pairs.annotator_groups.get(name, {}).get(by, "(none)") for name in pairs.annotator_names]
    missing = bool((ann < 0).any())
    uniq = sorted(set(labels))
    if by == "annotator":
        uniq = labels
    if missing:
        uniq = [*uniq, NO_ANNOTATOR]
    code_of = {v: k for k, v in enumerate(uniq)}
    lut = np.array([code_of[v] for v in labels] + [code_of.get(NO_ANNOTATOR, -1)], dtype=np.int64)
    return lut[np.where(ann >= 0, ann, len(labels))], uniq
