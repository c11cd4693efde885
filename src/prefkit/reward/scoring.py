"""The rows ``prefkit reward score`` writes: each pairwise row with both rewards and P(first preferred), then
each ranked or rated response with its reward. The same function serves the local engine (one file) and the
Ray engine (one call per input shard, on a worker)."""

from __future__ import annotations

from typing import Any


def score_rows(model: Any, ds: Any, emb: Any) -> list[dict[str, Any]]:
    """The scored rows of ``ds`` (pairs first, then ranked / rated responses), embedding through ``emb``."""
    return [*_pair_rows(model, ds, emb), *_response_rows(model, ds, emb)]


def _pair_rows(model: Any, ds: Any, emb: Any) -> list[dict[str, Any]]:
    from prefkit.data.model import OUTCOME_A, OUTCOME_NAMES
    from prefkit.reward.pipeline import score_dataset
    from prefkit.reward.trl_export import _content

    pw = ds.pairwise
    if len(pw) == 0:
        return []
    s = score_dataset(model, ds, emb)
    conv = bool(ds.meta.get("conversational"))
    chosen_rejected = bool((pw.outcome == OUTCOME_A).all())
    a_key, b_key = ("chosen", "rejected") if chosen_rejected else ("a", "b")
    names = getattr(model.head, "attribute_names_", None)
    rows = []
    for i in range(len(pw)):
        row: dict[str, Any] = {"line": int(pw.line[i])}
        c = int(pw.context[i])
        if c >= 0:
            row["prompt"] = _content(ds.context_text.get(ds.contexts.name(c), ""), conv)
        row[a_key] = _content(ds.item_text[ds.items.name(int(pw.a[i]))], conv)
        row[b_key] = _content(ds.item_text[ds.items.name(int(pw.b[i]))], conv)
        if not chosen_rejected:
            row["outcome"] = OUTCOME_NAMES[int(pw.outcome[i])]
        row[f"reward_{a_key}"] = float(s.reward_a[i])
        row[f"reward_{b_key}"] = float(s.reward_b[i])
        row[f"p_{a_key}"] = float(s.p_a[i])
        if s.attribute_weights is not None and s.attributes_a is not None and s.attributes_b is not None:
            row[f"attributes_{a_key}"] = dict(zip(names or [], s.attributes_a[i].tolist(), strict=False))
            row[f"attributes_{b_key}"] = dict(zip(names or [], s.attributes_b[i].tolist(), strict=False))
            row["attribute_weights"] = dict(zip(names or [], s.attribute_weights[i].tolist(), strict=False))
        rows.append(row)
    return rows


def _response_rows(model: Any, ds: Any, emb: Any) -> list[dict[str, Any]]:
    from prefkit.reward.pipeline import score_responses
    from prefkit.reward.trl_export import _content

    if not (len(ds.rankings) or len(ds.ratings)):
        return []
    s = score_responses(model, ds, emb)
    conv = bool(ds.meta.get("conversational"))
    names = getattr(model.head, "attribute_names_", None)
    rows = []
    for i, (c, it) in enumerate(zip(s.context.tolist(), s.item.tolist(), strict=True)):
        name = ds.items.name(it)
        row: dict[str, Any] = {"item": name}
        if c >= 0:
            row["context"] = ds.contexts.name(c)
            row["prompt"] = _content(ds.context_text.get(row["context"], ""), conv)
        row["response"] = _content(ds.item_text[name], conv)
        row["reward"] = float(s.reward[i])
        if s.attributes is not None and names:
            row["attributes"] = dict(zip(names, s.attributes[i].tolist(), strict=False))
        rows.append(row)
    return rows
