"""Instance features for routing: lexical ones, HyPER's LLM-tagged dimensions, user columns; the design matrix.

Lexical features of an instance (a prompt and two responses), on words (lower-cased runs of letters, digits
and ``_``):
``len_a``, ``len_b``, ``len_diff`` (``|len_a - len_b|``), ``len_ratio`` (shorter / longer), ``prompt_len``,
``overlap`` (Jaccard of the two responses' word sets) and ``similarity`` (cosine of their word counts).

LLM-tagged features follow HyPER's tagging configs (``tagging_configs.json``: a ``dimension``, its
``tagging_instruction`` and the ``options``): the prompt is tagged once per distinct prompt through any
:class:`Tagger` (``complete(prompts) -> completions``; the CLI passes a cached judge backend), the JSON reply is
parsed to the option (single-valued dimensions), the list of options (multi-valued) or the list of free values
(``format_constraints``, ``type_of_in_context_material``). An unreadable reply becomes ``"(unparsed)"``.

:class:`Design` turns feature columns into HyPER's binary features: a numeric column into ``bins`` quantile bins
(edges fitted once and kept, so a saved model applies to new data), a categorical one into one indicator per
value, a list-valued one into one indicator per value (free-form lists: ``NAME:any``, non-empty).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from prefkit.errors import DataProblemError, ValidationError

LEXICAL = ("len_a", "len_b", "len_diff", "len_ratio", "prompt_len", "overlap", "similarity")
TEXT_FEATURES = frozenset(LEXICAL)
UNPARSED = "(unparsed)"
# HyPER's five routing dimensions (the others of tagging_configs.json can be asked for by name)
DEFAULT_DIMENSIONS = (
    "safety_concern",
    "complexity_of_intents",
    "expertise_level",
    "open_endedness",
    "format_constraints",
)


class Tagger(Protocol):
    """Anything that answers a batch of rendered prompts with one completion each (an LLM judge backend)."""

    def complete(self, prompts: Sequence[str]) -> Sequence[str]: ...


@dataclass
class Features:
    """Feature columns of ``n`` instances: numeric (float arrays), categorical (strings) and list-valued."""

    n: int
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    categorical: dict[str, list[str]] = field(default_factory=dict)
    multi: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [*self.numeric, *self.categorical, *self.multi]

    def merge(self, other: Features) -> Features:
        if other.n != self.n:
            raise ValidationError(f"feature tables differ in length ({self.n} and {other.n})")
        return Features(
            self.n,
            {**self.numeric, **other.numeric},
            {**self.categorical, **other.categorical},
            {**self.multi, **other.multi},
        )

    def rows(self) -> list[dict[str, Any]]:
        """One JSON-able dict per instance."""
        out: list[dict[str, Any]] = [{} for _ in range(self.n)]
        for k, v in self.numeric.items():
            for i, x in enumerate(v.tolist()):
                out[i][k] = x
        for k, c in self.categorical.items():
            for i, s in enumerate(c):
                out[i][k] = s
        for k, m in self.multi.items():
            for i, t in enumerate(m):
                out[i][k] = list(t)
        return out

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], skip: Sequence[str] = ()) -> Features:
        """Columns from dicts (numbers -> numeric, strings -> categorical, lists -> multi); ``skip`` keys ignored."""
        n = len(rows)
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys and k not in skip]
        f = cls(n)
        for k in keys:
            vals = [r.get(k) for r in rows]
            present = [v for v in vals if v is not None]
            if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
                f.numeric[k] = np.array([np.nan if v is None else float(v) for v in vals])
            elif present and all(isinstance(v, list) for v in present):
                f.multi[k] = [tuple(str(x) for x in (v or [])) for v in vals]
            else:
                f.categorical[k] = ["(none)" if v is None else str(v) for v in vals]
        return f


def _require_texts(
    prompts: Sequence[str | None] | None, texts: Sequence[Sequence[str | None] | None]
) -> None:
    for name, seq in (("response", texts[0]), ("response", texts[1])):
        if seq is None:
            raise DataProblemError(
                f"the instances carry no {name} texts, so lexical features cannot be computed; use a file with "
                "texts (an arena log with response_a/response_b, TRL / prefkit JSONL with item texts, an llmfao "
                "directory) or give feature columns"
            )
        missing = [i for i, t in enumerate(seq) if t is None]
        if missing:
            raise DataProblemError(
                f"{len(missing)} of {len(seq)} instances lack a response text (first: instance {missing[0] + 1});"
                " add the texts or drop those instances"
            )
    if prompts is None or any(p is None for p in prompts):
        k = 0 if prompts is None else next(i for i, p in enumerate(prompts) if p is None)
        raise DataProblemError(
            f"instance {k + 1} lacks its prompt text, so prompt_len cannot be computed; add the prompts"
        )


def lexical_features(
    prompts: Sequence[str | None] | None,
    text_a: Sequence[str | None] | None,
    text_b: Sequence[str | None] | None,
    names: Sequence[str] = LEXICAL,
) -> Features:
    """The lexical features ``names`` of every instance (DataProblemError naming the first instance without texts)."""
    unknown = [x for x in names if x not in TEXT_FEATURES]
    if unknown:
        raise ValidationError(f"unknown lexical feature {unknown[0]!r}; choose from {', '.join(LEXICAL)}")
    need_prompt = "prompt_len" in names
    _require_texts(prompts if need_prompt else [""] * len(text_a or []), (text_a, text_b))
    assert text_a is not None and text_b is not None
    n = len(text_a)
    # each distinct text once: its word count and its sparse word-count vector
    text_id: dict[str, int] = {}
    ia = np.fromiter((text_id.setdefault(str(t), len(text_id)) for t in text_a), np.int64, n)
    ib = np.fromiter((text_id.setdefault(str(t), len(text_id)) for t in text_b), np.int64, n)
    counts, lengths = _word_counts(list(text_id))
    la, lb = lengths[ia], lengths[ib]
    cols: dict[str, np.ndarray] = {}
    longer = np.maximum(la, lb)
    row = {
        "len_a": la,
        "len_b": lb,
        "len_diff": np.abs(la - lb),
        "len_ratio": np.divide(np.minimum(la, lb), longer, out=np.ones(n), where=longer > 0),
    }
    if "overlap" in names or "similarity" in names:
        ca, cb = counts[ia], counts[ib]
        if "overlap" in names:
            ba, bb = (ca > 0).astype(np.float64), (cb > 0).astype(np.float64)
            inter = np.asarray(ba.multiply(bb).sum(axis=1)).ravel()
            union = np.diff(ba.indptr) + np.diff(bb.indptr) - inter
            row["overlap"] = np.divide(inter, union, out=np.ones(n), where=union > 0)
        if "similarity" in names:
            dot = np.asarray(ca.multiply(cb).sum(axis=1)).ravel()
            sq = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
            na, nb = sq[ia], sq[ib]
            both = (na > 0) & (nb > 0)
            row["similarity"] = np.where(
                both, dot / np.where(both, na * nb, 1.0), (na == nb).astype(np.float64)
            )
    if need_prompt:
        assert prompts is not None
        uniq = {str(p): None for p in prompts}
        plen = dict(zip(uniq, _word_counts(list(uniq))[1].tolist(), strict=True))
        row["prompt_len"] = np.fromiter((plen[str(p)] for p in prompts), np.float64, n)
    for k in names:
        cols[k] = np.asarray(row[k], dtype=np.float64)
    return Features(n, numeric=cols)


def _word_counts(texts: list[str]) -> tuple[Any, np.ndarray]:
    """The sparse ``(texts, vocabulary)`` word-count matrix (words: lower-cased runs of letters, digits and
    ``_``, so ``foo.bar(x)`` is three words; pyarrow's string kernels) and the word count of every text."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from scipy.sparse import csr_matrix

    lists = pc.split_pattern_regex(pc.utf8_lower(pa.array(texts, pa.string())), r"[^\p{L}\p{N}_]+")
    flat = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists)
    keep = pc.not_equal(flat, "")
    words = pc.filter(flat, keep)
    rows = pc.filter(parent, keep).to_numpy(zero_copy_only=False).astype(np.int64)
    enc = (
        pc.dictionary_encode(words).combine_chunks()
        if isinstance(words, pa.ChunkedArray)
        else pc.dictionary_encode(words)
    )
    cols = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    indptr = np.searchsorted(rows, np.arange(len(texts) + 1))  # rows come sorted: build the CSR directly
    m = csr_matrix((np.ones(rows.size), cols, indptr), shape=(len(texts), max(len(enc.dictionary), 1)))
    m.sum_duplicates()
    return m, np.bincount(rows, minlength=len(texts)).astype(np.float64)


@dataclass(frozen=True)
class Dimension:
    """One tagging dimension of HyPER's configs."""

    name: str
    instruction: str
    options: tuple[str, ...] = ()  # empty: free-form list of values

    @property
    def multi(self) -> bool:
        return not self.options or "list" in self.instruction.rsplit("Please reply", 1)[-1]


def read_dimensions(
    configs: Sequence[Mapping[str, Any]], names: Sequence[str] = DEFAULT_DIMENSIONS
) -> list[Dimension]:
    """The dimensions ``names`` of a parsed ``tagging_configs.json`` (ValidationError naming an unknown one)."""
    by_name = {}
    for c in configs:
        if not isinstance(c, Mapping) or "dimension" not in c or "tagging_instruction" not in c:
            raise ValidationError("tagging configs: each entry needs 'dimension' and 'tagging_instruction'")
        by_name[str(c["dimension"])] = Dimension(
            str(c["dimension"]),
            str(c["tagging_instruction"]),
            tuple(str(o) for o in (c.get("options") or ())),
        )
    out = []
    for n in names:
        if n not in by_name:
            raise ValidationError(f"unknown tagging dimension {n!r}; the configs have {', '.join(by_name)}")
        out.append(by_name[n])
    return out


def tagging_prompt(dim: Dimension, prompt: str) -> str:
    """HyPER's tagging prompt: the instruction, then the instance between [START] and [END] as a user turn."""
    return f"{dim.instruction}\n\n[START]\n<|user|>\n{prompt}\n[END]"


_JSON_OBJ = re.compile(r"\{.*?\}", re.S)


def parse_tag(dim: Dimension, reply: str) -> str | tuple[str, ...]:
    """The option (or tuple of values, for list-valued dimensions) in ``reply``; ``UNPARSED`` when unreadable."""
    value: Any = None
    for m in _JSON_OBJ.finditer(reply):
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and dim.name in obj:
            value = obj[dim.name]
            break
    if value is None:
        return (UNPARSED,) if dim.multi else UNPARSED
    opts = {o.lower(): o for o in dim.options}
    if dim.multi:
        vals = value if isinstance(value, list) else [value]
        if opts:
            return tuple(
                sorted({opts[str(v).strip().lower()] for v in vals if str(v).strip().lower() in opts})
            )
        return tuple(str(v) for v in vals if str(v).strip())
    if isinstance(value, list):
        value = value[0] if value else ""
    return opts.get(str(value).strip().lower(), UNPARSED)


def tagged_features(
    tagger: Tagger, prompts: Sequence[str | None], dimensions: Sequence[Dimension]
) -> Features:
    """Tag each distinct prompt once on each dimension through ``tagger``; one column per dimension."""
    if any(p is None for p in prompts):
        k = next(i for i, p in enumerate(prompts) if p is None)
        raise DataProblemError(
            f"instance {k + 1} lacks its prompt text, so it cannot be tagged; add the prompts"
        )
    uniq = list(dict.fromkeys(str(p) for p in prompts))
    f = Features(len(prompts))
    for dim in dimensions:
        replies = list(tagger.complete([tagging_prompt(dim, p) for p in uniq]))
        if len(replies) != len(uniq):
            raise ValidationError(f"the tagger answered {len(replies)} of {len(uniq)} prompts")
        tag_of = {p: parse_tag(dim, r) for p, r in zip(uniq, replies, strict=True)}
        col = [tag_of[str(p)] for p in prompts]
        if dim.multi:
            f.multi[dim.name] = [t if isinstance(t, tuple) else (t,) for t in col]
        else:
            f.categorical[dim.name] = [str(t) for t in col]
    return f


@dataclass
class Design:
    """The binary features of HyPER: quantile bins of numeric columns, indicators of categorical / list values."""

    bins: int = 4
    edges: dict[str, list[float]] = field(default_factory=dict)
    levels: dict[str, list[str]] = field(default_factory=dict)
    multi_levels: dict[str, list[str]] = field(default_factory=dict)
    max_levels: int = 30

    @property
    def names(self) -> list[str]:
        out = []
        for k, e in self.edges.items():
            out += [f"{k}:q{j + 1}" for j in range(len(e) + 1)]
        for k, lv in self.levels.items():
            out += [f"{k}={v}" for v in lv]
        for k, lv in self.multi_levels.items():
            out += [f"{k}={v}" for v in lv]
        return out

    def fit(self, f: Features) -> Design:
        if self.bins < 1:
            raise ValidationError(f"bins must be >= 1, got {self.bins}")
        for k, v in f.numeric.items():
            finite = v[np.isfinite(v)]
            qs = np.quantile(finite, np.linspace(0, 1, self.bins + 1)[1:-1]) if finite.size else np.array([])
            self.edges[k] = sorted({float(x) for x in qs})
        for k, c in f.categorical.items():
            top = [v for v, _ in Counter(c).most_common(self.max_levels)]
            self.levels[k] = sorted(top)
        for k, m in f.multi.items():
            cnt: Counter[str] = Counter(v for t in m for v in t)
            lv = [v for v, _ in cnt.most_common(self.max_levels)]
            self.multi_levels[k] = sorted(lv) if len(cnt) <= self.max_levels else [*sorted(lv), ":any"]
        return self

    def transform(self, f: Features) -> np.ndarray:
        """The ``(n, p)`` 0/1 matrix in the order of :attr:`names` (missing numeric values: no bin set)."""
        cols = []
        for k, e in self.edges.items():
            if k not in f.numeric:
                raise ValidationError(f"the model needs feature {k!r}, which these instances lack")
            v = f.numeric[k]
            idx = np.searchsorted(np.asarray(e), v, side="right")
            block = np.zeros((f.n, len(e) + 1))
            ok = np.isfinite(v)
            block[np.nonzero(ok)[0], idx[ok]] = 1.0
            cols.append(block)
        for k, lv in self.levels.items():
            if k not in f.categorical:
                raise ValidationError(f"the model needs feature {k!r}, which these instances lack")
            pos = {v: j for j, v in enumerate(lv)}
            block = np.zeros((f.n, len(lv)))
            for i, s in enumerate(f.categorical[k]):
                j = pos.get(s)
                if j is not None:
                    block[i, j] = 1.0
            cols.append(block)
        for k, lv in self.multi_levels.items():
            if k not in f.multi:
                raise ValidationError(f"the model needs feature {k!r}, which these instances lack")
            pos = {v: j for j, v in enumerate(lv)}
            block = np.zeros((f.n, len(lv)))
            for i, t in enumerate(f.multi[k]):
                for tag in t:
                    j = pos.get(tag)
                    if j is not None:
                        block[i, j] = 1.0
                if ":any" in pos and t:
                    block[i, pos[":any"]] = 1.0
            cols.append(block)
        return np.hstack(cols) if cols else np.zeros((f.n, 0))

    def to_json(self) -> dict[str, Any]:
        return {
            "bins": self.bins,
            "edges": self.edges,
            "levels": self.levels,
            "multi_levels": self.multi_levels,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Design:
        return cls(
            bins=int(d["bins"]),
            edges={k: [float(x) for x in v] for k, v in d["edges"].items()},
            levels={k: [str(x) for x in v] for k, v in d["levels"].items()},
            multi_levels={k: [str(x) for x in v] for k, v in d["multi_levels"].items()},
        )
