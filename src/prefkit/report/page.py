"""One self-contained HTML report of judged pairs: leaderboard, property weights, agreement, consistency.

:func:`explain_pairs` runs every analysis that the data support (each section records why it was skipped
otherwise) and :func:`render_report` writes one HTML page with inline CSS and inline SVG: no script, no
external resource, readable at a phone's width.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prefkit.analysis.annotators import (
    Clusters,
    DawidSkene,
    SpamReport,
    agreement_with_others,
    annotator_clusters,
    dawid_skene,
    group_alpha,
    pairwise_tasks,
    spam_flags,
)
from prefkit.analysis.consistency import (
    RatingRankingConsistency,
    SelfConsistency,
    Transitivity,
    self_consistency,
    transitivity,
)
from prefkit.analysis.dissect import Dissection, dissect
from prefkit.analysis.factors import FactorShare, factor_shares
from prefkit.analysis.pairs import JudgedPairs, group_codes, property_differences
from prefkit.errors import PrefkitError
from prefkit.report import svg

TOP_ITEMS = 30
HEAT_ITEMS = 15


@dataclass
class Explained:
    """Everything the report shows; a ``None`` result has its reason in ``skipped``."""

    pairs: JudgedPairs
    leaderboard: Any = None
    dissection: Dissection | None = None
    factors: dict[str, list[FactorShare]] | None = None
    dissect_by: str = "judge"
    reliability: DawidSkene | None = None
    agreement: np.ndarray | None = None
    alphas: dict[str, float] = field(default_factory=dict)
    clusters: Clusters | None = None
    spam: SpamReport | None = None
    transitivity: Transitivity | None = None
    self_consistency: SelfConsistency | None = None
    rating_ranking: RatingRankingConsistency | None = None
    calibration: Any = None
    skipped: dict[str, str] = field(default_factory=dict)


def _try(ex: Explained, section: str, fn: Any) -> Any:
    try:
        return fn()
    except PrefkitError as exc:
        ex.skipped[section] = str(exc)
        return None


def explain_pairs(
    pairs: JudgedPairs,
    *,
    by: str = "judge",
    margins: np.ndarray | None = None,
    rating_ranking: RatingRankingConsistency | None = None,
) -> Explained:
    """Run the analyses for the report (``margins``: a reward model's ``r_chosen - r_rejected`` per pair)."""
    from prefkit.ranking.leaderboard import Battles, build_leaderboard

    ex = Explained(pairs=pairs, dissect_by=by, rating_ranking=rating_ranking)
    n_items, n_ann = len(pairs.item_names), len(pairs.annotator_names)
    ex.leaderboard = _try(
        ex,
        "leaderboard",
        lambda: build_leaderboard(Battles(pairs.a, pairs.b, pairs.outcome, pairs.item_names), prior=0.01),
    )

    def _dissect() -> Dissection:
        x, names = property_differences(pairs)
        g, gn = group_codes(pairs, by)
        ex.factors = factor_shares(x, pairs.outcome, names, g, gn)
        return dissect(x, pairs.outcome, names, g, gn, min_n=30)

    ex.dissection = _try(ex, "dissection", _dissect)
    explain_annotators(ex)
    ex.transitivity = transitivity(pairs.a, pairs.b, pairs.outcome, n_items, pairs.annotator, n_ann)
    if margins is not None:
        from prefkit.reward.calibration import reliability

        ex.calibration = _try(ex, "calibration", lambda: reliability(np.asarray(margins, dtype=np.float64)))
    return ex


def explain_annotators(ex: Explained, *, n_clusters: int = 2, min_n: int = 10) -> Explained:
    """Fill the annotator sections of ``ex``: Dawid-Skene, agreement, alpha per kind, clusters, spam, repeats."""
    pairs = ex.pairs
    n_ann = len(pairs.annotator_names)
    task, label, n_tasks = pairwise_tasks(pairs.a, pairs.b, pairs.outcome, pairs.context)
    has_ann = pairs.annotator >= 0
    if not (n_ann and has_ann.any()):
        ex.skipped["annotators"] = "the judgments name no annotators"
        return ex
    t, j, y = task[has_ann], pairs.annotator[has_ann], label[has_ann]
    ex.reliability = _try(ex, "reliability", lambda: dawid_skene(t, j, y, n_tasks, n_ann, 3))
    ex.agreement = _try(ex, "agreement", lambda: agreement_with_others(t, j, y, n_tasks, n_ann, 3))
    kinds: dict[str, list[int]] = {}
    for k, name in enumerate(pairs.annotator_names):
        kinds.setdefault(pairs.annotator_kind.get(name, "human"), []).append(k)
    for kind, members in kinds.items():
        if len(members) >= 2:
            ex.alphas[kind] = group_alpha(t, j, y, np.array(members), n_tasks)
    ex.clusters = _try(
        ex, "clusters", lambda: annotator_clusters(t, j, y, n_tasks, n_ann, 3, n_clusters=n_clusters)
    )
    ex.spam = spam_flags(pairs.outcome, pairs.annotator, n_ann, seconds=pairs.seconds, min_n=min_n)
    ex.self_consistency = self_consistency(
        pairs.a, pairs.b, pairs.outcome, pairs.annotator, n_ann, pairs.context
    )
    return ex


# -- rendering --------------------------------------------------------------------------------------

CSS = (
    "*{box-sizing:border-box}body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;"
    "max-width:960px;padding:12px;line-height:1.45;color:#1d2430;font-size:16px}h1{font-size:1.5em}"
    "h2{font-size:1.2em;border-bottom:2px solid #1f4e79;padding-bottom:2px;margin-top:1.6em}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:14px}td,th{padding:3px 8px;border:1px solid #dde;"
    "text-align:left}th{background:#eef2f7}.scroll{overflow-x:auto;max-width:100%}.note{color:#555;font-size:14px}"
    ".skip{color:#8a5a00;background:#fff7e6;padding:6px 8px;border-radius:4px;font-size:14px}"
    ".num{text-align:right;font-variant-numeric:tabular-nums}svg{display:block;height:auto;max-width:100%}"
)


def _e(s: object) -> str:
    return html.escape(str(s))


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c:.3f}</td>' if isinstance(c, float) else f"<td>{_e(c)}</td>" for c in r)
        + "</tr>"
        for r in rows
    )
    return f'<div class="scroll"><table><tr>{th}</tr>{body}</table></div>'


def _skip(ex: Explained, key: str) -> str:
    return f'<p class="skip">Not available: {_e(ex.skipped.get(key, "no data"))}</p>'


def _leaderboard(ex: Explained) -> str:
    lb = ex.leaderboard
    if lb is None:
        return _skip(ex, "leaderboard")
    order = lb.order()[:TOP_ITEMS]
    names = [lb.names[k] for k in order]
    chart = svg.forest(
        names,
        [("rating", lb.rating[order], lb.lower[order], lb.upper[order])],
        title=f"Bradley-Terry ratings, {int(lb.level * 100)}% intervals",
        ref=None,
        fmt="{:.0f}",
    )
    rows = [
        [r.rank, r.name, f"{r.rating:.0f}", f"{r.lower:.0f} – {r.upper:.0f}", f"{r.battles:g}"]
        for r in lb.rows()
    ]
    top = lb.order()[:HEAT_ITEMS]
    heat = svg.heatmap(
        [lb.names[k] for k in top], lb.win_probability[np.ix_(top, top)], title="P(row beats column)"
    )
    more = f" (top {TOP_ITEMS} shown)" if len(lb.names) > TOP_ITEMS else ""
    return (
        f"{chart}<p class='note'>{len(lb.names)} items{more}.</p>"
        f"{_table(['rank', 'name', 'rating', 'interval', 'battles'], rows[:TOP_ITEMS])}"
        f"<h3>Win probability (top {min(HEAT_ITEMS, len(top))})</h3>{heat}"
    )


def _weights(ex: Explained) -> str:
    d = ex.dissection
    if d is None:
        return _skip(ex, "dissection")
    series = []
    for g in d.groups:
        series.append(
            (
                f"{g.group} (n={g.n})",
                np.array([w.mean for w in g.weights]),
                np.array([w.lower for w in g.weights]),
                np.array([w.upper for w in g.weights]),
            )
        )
    chart = svg.forest(
        list(d.properties), series, title=f"Property weights per group ({int(d.level * 100)}% intervals)"
    )
    names = [g.group for g in d.groups]
    sim_rows = [
        [names[i], *[float(v) if np.isfinite(v) else "–" for v in d.similarity[i]]] for i in range(len(names))
    ]
    too_few = (
        f"<p class='note'>Too few judgments to fit: {_e(', '.join(f'{g} ({n})' for g, n in d.too_few))}.</p>"
        if d.too_few
        else ""
    )
    factors = ""
    if ex.factors:
        fitted = {g.group for g in d.groups}
        fs = [
            (
                name,
                np.array([f.share for f in v]),
                np.array([f.lower for f in v]),
                np.array([f.upper for f in v]),
            )
            for name, v in ex.factors.items()
            if name in fitted
        ]
        factors = (
            "<h3>Factor influence, side by side</h3><p class='note'>Share of decisive judgments won by the response "
            "with more of each property (0.5: no influence; not adjusted for the other properties), Wilson 95% "
            "intervals.</p>"
            + svg.forest(list(d.properties), fs, title="Winner has more of the property", ref=0.5)
        )
    return (
        f"<p class='note'>Bayesian logistic regression of the verdict on property differences (a minus b), "
        f"grouped by {_e(ex.dissect_by)}; ties {_e(d.ties)}; weights per standard deviation of the difference; "
        f"Gaussian prior precision {d.prior_precision:g}; Laplace posterior.</p>{chart}{too_few}"
        f"<h3>Cosine similarity of the groups' weights</h3>{_table(['group', *names], sim_rows)}{factors}"
    )


def _annotators(ex: Explained) -> str:
    p = ex.pairs
    if ex.spam is None:
        return _skip(ex, "annotators")
    n = ex.spam.n
    parts = []
    if ex.reliability is not None:
        acc = ex.reliability.accuracy
        busy = np.flatnonzero(n >= 5)
        order = busy[np.argsort(acc[busy])]
        rows = [
            [
                p.annotator_names[k],
                int(n[k]),
                float(acc[k]),
                float(ex.agreement[k]) if ex.agreement is not None and np.isfinite(ex.agreement[k]) else "–",
                ", ".join(ex.spam.flags[k]) or "",
            ]
            for k in order[:15]
        ]
        parts.append(
            "<p class='note'>Dawid-Skene accuracy (no gold labels) and agreement with other annotators on the same "
            "pairs; the 15 least reliable annotators with at least 5 judgments.</p>"
            + _table(["annotator", "judgments", "DS accuracy", "agreement with others", "flags"], rows)
        )
    else:
        parts.append(_skip(ex, "reliability"))
    if ex.alphas:
        parts.append(
            _table(
                ["annotator kind", "Krippendorff's alpha (nominal)"], [[k, v] for k, v in ex.alphas.items()]
            )
        )
    flagged = ex.spam.flagged()
    parts.append(
        f"<p>Spam checks: {len(flagged)} annotator(s) flagged"
        + (
            ": "
            + _e(", ".join(f"{p.annotator_names[k]} ({', '.join(ex.spam.flags[k])})" for k in flagged[:20]))
            if flagged
            else ""
        )
        + ".</p>"
    )
    if ex.clusters is not None:
        sizes = np.bincount(ex.clusters.labels[ex.clusters.labels >= 0])
        parts.append(
            f"<p>Clusters of annotators by agreement: sizes {_e(sizes.tolist())}; mean agreement within "
            f"{ex.clusters.within:.3f}, between {ex.clusters.between:.3f}.</p>"
        )
    else:
        parts.append(_skip(ex, "clusters"))
    return "".join(parts)


def _consistency(ex: Explained) -> str:
    parts = []
    t = ex.transitivity
    if t is not None:
        share = f"{t.cyclic_share:.1%}" if t.triangles else "–"
        own = t.per_annotator
        parts.append(
            _table(
                ["comparison graph", "value"],
                [
                    ["items", t.n_items],
                    ["majority edges", t.n_edges],
                    ["triads with all three pairs compared", t.triangles],
                    ["intransitive triads (3-cycles)", t.cycles],
                    ["share intransitive", share],
                    [
                        "3-cycles inside single annotators' own judgments",
                        int(own[:, 0].sum()) if own.size else 0,
                    ],
                ],
            )
        )
        if t.examples:
            names = ex.pairs.item_names
            ex_rows = [[f"{names[i]} > {names[j]} > {names[k]} > {names[i]}"] for i, j, k in t.examples[:5]]
            parts.append(_table(["example cycles"], ex_rows))
    sc = ex.self_consistency
    if sc is not None:
        rate = f"{sc.overall:.1%}" if np.isfinite(sc.overall) else "no repeated pairs"
        parts.append(
            f"<p>Self-consistency on repeated pairs: {_e(rate)} of repeat pairs agree "
            f"({int(sc.repeats.sum())} repeated pair(s)).</p>"
        )
    rr = ex.rating_ranking
    if rr is not None:
        parts.append(
            f"<p>Ratings versus rankings on {rr.n_pairs} pairs: they disagree on {rr.disagreement:.1%} "
            f"(opposite winners on {rr.opposite:.1%} of pairs decisive under both).</p>"
        )
    return "".join(parts)


def _calibration(ex: Explained) -> str:
    c = ex.calibration
    if c is None:
        return _skip(ex, "calibration") if "calibration" in ex.skipped else ""
    chart = svg.reliability(
        c.bin_confidence, c.bin_accuracy, c.bin_count, title=f"Reward model reliability (ECE {c.ece:.3f})"
    )
    return f"<h2>Reward model calibration</h2>{chart}<p class='note'>ECE {c.ece:.3f}, ACE {c.ace:.3f}, MCE {c.mce:.3f}.</p>"


def render_report(ex: Explained, *, title: str = "prefkit report") -> str:
    """The whole page (inline CSS and SVG; no script, no external resource)."""
    p = ex.pairs
    ties = float((p.outcome >= 2).mean()) if len(p) else 0.0
    summary = (
        f"<p>{len(p):,} pairwise judgments of {len(p.item_names):,} items by {len(p.annotator_names):,} "
        f"annotators; {ties:.1%} ties. Source: {_e(p.source or '-')}.</p>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_e(title)}</h1>{summary}"
        f"<h2>Leaderboard</h2>{_leaderboard(ex)}"
        f"<h2>What drives the verdicts</h2>{_weights(ex)}"
        f"<h2>Annotators: agreement and reliability</h2>{_annotators(ex)}"
        f"<h2>Consistency</h2>{_consistency(ex)}"
        f"{_calibration(ex)}"
        "<p class='note'>Made by prefkit.</p></body></html>"
    )
