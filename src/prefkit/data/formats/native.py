"""prefkit's own JSON-lines schema: one object per line, ``"type"`` says what it is.

    {"type": "meta", "conversational": false}
    {"type": "item", "id": "gpt-4", "text": "optional content or URI"}
    {"type": "context", "id": "q1", "text": "What is 2+2?", "condition": "optional system message (Janus)"}
    {"type": "response", "context": "q1", "item": "gpt-4", "text": "4"}
    {"type": "annotator", "id": "w7", "kind": "human", "groups": {"country": "FR"}}
    {"type": "pairwise", "a": "x", "b": "y", "outcome": "a", "strength": 2, "context": "q1", "annotator": "w7",
     "annotator_kind": "human", "criterion": "helpful", "rationale": "...", "id": "j1", "weight": 1.0}
    {"type": "ranking", "ranking": [["x", "y"], "z"], "context": "q1", "annotator": "w7"}
    {"type": "rating", "item": "x", "score": 5, "scale": [1, 7], "attribute": "helpfulness"}
    {"type": "rating", "item": "x", "scores": {"helpfulness": 5, "coherence": 3}, "scale": [0, 4]}

Every judgment may carry ``"tstamp"``: when it was made, as Unix seconds or an ISO-8601 date-time (UTC when
no zone is given); it is written back as Unix seconds. ``outcome`` is one of a, b, tie, both_bad. A ranking is best first; a nested list is a group of tied items.
Only ``type`` and the shape's own fields (a/b/outcome, ranking, item/score(s)/scale) are required.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from prefkit.data import _tabular
from prefkit.data._build import Builder
from prefkit.data.formats._common import name, number, seconds
from prefkit.data.model import ANNOTATOR_KINDS, OUTCOME_NAMES, Dataset

TYPES = ("meta", "item", "context", "response", "annotator", "pairwise", "ranking", "rating")
_OUTCOMES = {n: i for i, n in enumerate(OUTCOME_NAMES)}
_META_KEYS = ("conversational",)


class _Bad(Exception):
    pass


def _str(rec: dict[str, Any], key: str, required: bool = False) -> str | None:
    v = rec.get(key)
    if v is not None and not isinstance(v, str | int):
        raise _Bad(f"{key!r} must be a string, found {type(v).__name__}")
    out = name(v)
    if required and out is None:
        raise _Bad(f"missing {key!r}; a {rec.get('type')} record needs it")
    return out


def _num(rec: dict[str, Any], key: str, v: Any = None) -> float | None:
    v = rec.get(key) if v is None else v
    try:
        return number(v)
    except (TypeError, ValueError):
        raise _Bad(f"{key!r} must be a number, found {v!r}") from None


def _kind(b: Builder, annotator: str | None, kind: Any) -> None:
    if kind is None:
        return
    if kind not in ANNOTATOR_KINDS:
        raise _Bad(f"annotator kind {kind!r} is not one of {', '.join(ANNOTATOR_KINDS)}")
    if annotator is None:
        raise _Bad("annotator_kind given without an annotator")
    b.t.annotator_kind[annotator] = kind


def _common(rec: dict[str, Any]) -> dict[str, Any]:
    try:
        tstamp = seconds(rec.get("tstamp"))
    except ValueError as exc:
        raise _Bad(f"'tstamp': {exc}; give Unix seconds or an ISO-8601 date-time") from None
    return {
        "context": _str(rec, "context"),
        "annotator": _str(rec, "annotator"),
        "criterion": _str(rec, "criterion"),
        "ident": _str(rec, "id"),
        "tstamp": tstamp,
    }


def _record(b: Builder, line: int, rec: dict[str, Any]) -> None:
    kind = rec.get("type")
    t = b.t
    if kind == "pairwise":
        outcome = rec.get("outcome")
        if outcome not in _OUTCOMES:
            raise _Bad(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOME_NAMES)}")
        strength = _num(rec, "strength")
        if strength is not None and not (-3 <= strength <= 3):
            raise _Bad(f"strength {strength:g} is outside [-3, 3] (positive means a is preferred)")
        weight = _num(rec, "weight")
        if weight is not None and not (weight >= 0 and math.isfinite(weight)):
            raise _Bad(f"weight {weight:g} must be a finite number >= 0")
        kw = _common(rec)
        rationale = rec.get("rationale")
        if rationale is not None and not isinstance(rationale, str):
            raise _Bad("'rationale' must be a string")
        _kind(b, kw["annotator"], rec.get("annotator_kind"))
        b.pair(
            _str(rec, "a", True) or "",
            _str(rec, "b", True) or "",
            _OUTCOMES[outcome],
            line=line,
            strength=math.nan if strength is None else strength,
            weight=1.0 if weight is None else weight,
            rationale=rationale,
            **kw,
        )
    elif kind == "ranking":
        ranking = rec.get("ranking")
        if not isinstance(ranking, list):
            raise _Bad("'ranking' must be a list of item ids (best first; a nested list is a group of ties)")
        groups = [[_item(m) for m in g] if isinstance(g, list) else [_item(g)] for g in ranking]
        kw = _common(rec)
        _kind(b, kw["annotator"], rec.get("annotator_kind"))
        b.ranking([g for g in groups if g], line=line, **kw)
    elif kind == "rating":
        scale = rec.get("scale")
        if not (isinstance(scale, list) and len(scale) == 2):
            raise _Bad("missing or bad 'scale'; declare it as \"scale\": [lo, hi]")
        lo, hi = _num(rec, "scale", scale[0]), _num(rec, "scale", scale[1])
        item = _str(rec, "item", True) or ""
        kw = _common(rec)
        _kind(b, kw["annotator"], rec.get("annotator_kind"))
        if "scores" in rec:
            scores = rec["scores"]
            if not isinstance(scores, dict) or not scores:
                raise _Bad("'scores' must be a non-empty object {attribute: score}")
            pairs = [(str(k), _num(rec, "scores", v)) for k, v in scores.items()]
        else:
            pairs = [(_str(rec, "attribute"), _num(rec, "score"))]  # type: ignore[list-item]
        for attr, score in pairs:
            if score is None:
                raise _Bad("missing 'score' (or 'scores'); a rating needs a number")
            b.rating(
                item,
                score,
                math.nan if lo is None else lo,
                math.nan if hi is None else hi,
                line=line,
                attribute=attr,
                **kw,
            )
    elif kind == "item":
        ident = _str(rec, "id", True) or ""
        t.items.add(ident)
        if rec.get("text") is not None:
            t.item_text[ident] = str(rec["text"])
    elif kind == "context":
        ident = _str(rec, "id", True) or ""
        t.contexts.add(ident)
        if rec.get("text") is not None:
            t.context_text[ident] = str(rec["text"])
        if rec.get("condition") is not None:
            t.context_condition[ident] = str(rec["condition"])
    elif kind == "response":
        item = _str(rec, "item", True) or ""
        text = rec.get("text")
        if not isinstance(text, str):
            raise _Bad("a response record needs a string 'text'")
        b.response(_str(rec, "context"), item, text, line=line)
    elif kind == "annotator":
        ident = _str(rec, "id", True) or ""
        t.annotators.add(ident)
        _kind(b, ident, rec.get("kind"))
        attrs = rec.get("groups")
        if attrs is not None:
            if not isinstance(attrs, dict):
                raise _Bad("'groups' must be an object {attribute: value}")
            t.annotator_groups[ident] = {str(k): str(v) for k, v in attrs.items()}
    elif kind == "meta":
        t.meta.update({k: v for k, v in rec.items() if k in _META_KEYS})
    else:
        raise _Bad(f'unknown or missing "type" {kind!r}; expected one of {", ".join(TYPES)}')


def _item(v: Any) -> str:
    out = name(v) if isinstance(v, str | int) else None
    if out is None:
        raise _Bad(f"ranking entries must be item ids (strings), found {v!r}")
    return out


def parse(records: Iterator[tuple[int, dict[str, Any]]], b: Builder) -> Iterator[None]:
    for line, rec in records:
        try:
            _record(b, line, rec)
        except _Bad as exc:
            b.ctx.problem(line, str(exc))
        yield


def _opt(rec: dict[str, Any], key: str, index: Any, code: int) -> None:
    if code >= 0:
        rec[key] = index.name(code)


def _shared(ds: Dataset, rec: dict[str, Any], table: Any, i: int) -> dict[str, Any]:
    _opt(rec, "context", ds.contexts, int(table.context[i]))
    _opt(rec, "annotator", ds.annotators, int(table.annotator[i]))
    crit = ds.criteria.name(int(table.criterion[i]))
    if crit != "overall":
        rec["criterion"] = crit
    ident = table.ids[i].as_py()
    if ident is not None:
        rec["id"] = ident
    t = float(table.tstamp[i])
    if not math.isnan(t):
        rec["tstamp"] = t
    return rec


def records(ds: Dataset) -> Iterator[dict[str, Any]]:
    """The records of ``ds`` in prefkit JSONL form (entities first, in index order; then the judgments)."""
    meta = {k: ds.meta[k] for k in _META_KEYS if k in ds.meta}
    if meta:
        yield {"type": "meta", **meta}
    for n in ds.items:
        yield {"type": "item", "id": n, **({"text": ds.item_text[n]} if n in ds.item_text else {})}
    for n in ds.contexts:
        yield {
            "type": "context",
            "id": n,
            **({"text": ds.context_text[n]} if n in ds.context_text else {}),
            **({"condition": ds.context_condition[n]} if n in ds.context_condition else {}),
        }
    rs = ds.responses
    for c, i, text in zip(rs.context.tolist(), rs.item.tolist(), rs.text.to_pylist(), strict=True):
        resp: dict[str, Any] = {"type": "response"}
        if c >= 0:
            resp["context"] = ds.contexts.name(c)
        yield {**resp, "item": ds.items.name(i), "text": text}
    for n in ds.annotators:
        rec: dict[str, Any] = {"type": "annotator", "id": n}
        if n in ds.annotator_kind:
            rec["kind"] = ds.annotator_kind[n]
        if n in ds.annotator_groups:
            rec["groups"] = ds.annotator_groups[n]
        yield rec
    pw = ds.pairwise
    for i in range(len(pw)):
        rec = {
            "type": "pairwise",
            "a": ds.items.name(int(pw.a[i])),
            "b": ds.items.name(int(pw.b[i])),
            "outcome": OUTCOME_NAMES[pw.outcome[i]],
        }
        if not np.isnan(pw.strength[i]):
            rec["strength"] = float(pw.strength[i])
        if pw.weight[i] != 1.0:
            rec["weight"] = float(pw.weight[i])
        rationale = pw.rationale[i].as_py()
        if rationale is not None:
            rec["rationale"] = rationale
        yield _shared(ds, rec, pw, i)
    rk = ds.rankings
    for r in range(len(rk)):
        groups: list[Any] = [
            g[0] if len(g) == 1 else g for g in ([ds.items.name(m) for m in grp] for grp in rk.groups(r))
        ]
        yield _shared(ds, {"type": "ranking", "ranking": groups}, rk, r)
    rt = ds.ratings
    for i in range(len(rt)):
        rec = {
            "type": "rating",
            "item": ds.items.name(int(rt.item[i])),
            "score": float(rt.score[i]),
            "scale": [float(rt.scale_min[i]), float(rt.scale_max[i])],
        }
        _opt(rec, "attribute", ds.attributes, int(rt.attribute[i]))
        yield _shared(ds, rec, rt, i)


def write(ds: Dataset, path: str | Path, container: str) -> int:
    if container != "jsonl":
        raise _tabular.ValidationError("prefkit's own format is JSON lines: use a .jsonl or .jsonl.gz path")
    n = 0
    with _tabular._open_text(Path(path)) as fh:
        for rec in records(ds):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n
