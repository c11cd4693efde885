"""``prefkit explain`` (dissect, consistency, annotators) and ``prefkit report``: why the verdicts are what they are."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import typer

from prefkit.cli._common import console, print_json

explain_app = typer.Typer(
    name="explain",
    help="Explain preference data: property weights per group, label consistency, annotator reliability.",
    no_args_is_help=True,
)

FILE_HELP = (
    "Judged pairs: any file prefkit reads (TRL / prefkit JSONL carry response texts), a project store "
    "(SQLite), or an llmfao directory (crowd and GPT-4 verdicts with texts)."
)


def _check_format(fmt: str) -> None:
    from prefkit.errors import ValidationError

    if fmt not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {fmt!r}")


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == b"SQLite format 3\x00"


def load_pairs(path: Path) -> Any:
    """JudgedPairs from a data file, a project store or an llmfao directory."""
    from prefkit.analysis.llmfao import is_llmfao_dir, read_llmfao
    from prefkit.analysis.pairs import JudgedPairs
    from prefkit.errors import InputError

    if path.is_dir():
        if is_llmfao_dir(path):
            return read_llmfao(path)
        raise InputError(
            "a directory that is not an llmfao checkout (no results.jsonl + crowd-comparisons.csv); give a file",
            path=path,
        )
    if not path.is_file():
        raise InputError("no such file; check the path", path=path)
    if _is_sqlite(path):
        from prefkit.storage.store import ProjectStore

        store = ProjectStore(path, create=False)
        try:
            ds = store.to_dataset()
        finally:
            close = getattr(store, "close", None)
            if close is not None:
                close()
        ds.source = str(path)
        return JudgedPairs.from_dataset(ds)
    from prefkit.data import io

    return JudgedPairs.from_dataset(io.read(path))


def _read_item_table(path: Path) -> tuple[list[str], dict[str, list[float]]]:
    """CSV (header: item, then numeric columns) or JSONL ({"item": ..., "col": number, ...})."""
    from prefkit.errors import InputError

    if not path.is_file():
        raise InputError("no such file; check the path", path=path)
    rows: list[tuple[int, dict[str, Any]]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        if path.suffix.lower() in (".jsonl", ".json"):
            for k, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        rows.append((k, json.loads(line)))
                    except json.JSONDecodeError as exc:
                        raise InputError(f"not a JSON object ({exc.msg})", path=path, line=k) from None
        else:
            rows = [(k, r) for k, r in enumerate(csv.DictReader(fh), 2)]
    if not rows or "item" not in rows[0][1]:
        raise InputError(
            "expected an 'item' column naming each item, then numeric property columns", path=path, line=1
        )
    cols = [c for c in rows[0][1] if c != "item"]
    items: list[str] = []
    values: dict[str, list[float]] = {c: [] for c in cols}
    for k, r in rows:
        items.append(str(r.get("item")))
        for c in cols:
            try:
                values[c].append(float(r[c]))
            except (KeyError, TypeError, ValueError):
                raise InputError(f"column {c!r}: {r.get(c)!r} is not a number", path=path, line=k) from None
    return items, values


def _load_tagger(spec: str | None) -> Any:
    """``MODULE:FACTORY``: a callable (or class) returning an object with ``complete(prompts) -> completions``."""
    import importlib

    from prefkit.analysis.properties import Tagger
    from prefkit.errors import ValidationError

    if not spec or ":" not in spec:
        raise ValidationError(
            "--properties judge needs --tagger MODULE:FACTORY (a callable returning an object with "
            "complete(prompts) -> completions, e.g. an LLM judge backend) and --prompts DIR (the "
            "preference_dissection/prompts directory)"
        )
    mod_name, attr = spec.split(":", 1)
    try:
        factory = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"--tagger {spec!r}: cannot load it ({exc})") from None
    tagger = factory() if callable(factory) and not isinstance(factory, Tagger) else factory
    if not isinstance(tagger, Tagger):
        raise ValidationError(f"--tagger {spec!r}: the object has no complete(prompts) method")
    return tagger


def _judge_differences(
    pairs: Any, tagger_spec: str | None, prompts_dir: Path | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    from prefkit.analysis.pairs import require_texts
    from prefkit.analysis.properties import judge_properties, load_property_prompts
    from prefkit.cli._common import progress_bar
    from prefkit.errors import ValidationError

    tagger = _load_tagger(tagger_spec)
    if prompts_dir is None:
        raise ValidationError(
            "--properties judge needs --prompts DIR (the preference_dissection/prompts directory)"
        )
    prompts = load_property_prompts(prompts_dir)
    ta, tb = require_texts(pairs)
    ctx = pairs.prompt if pairs.prompt is not None else [None] * len(pairs)
    keys: dict[tuple[Any, Any, Any], int] = {}
    idx = np.fromiter(
        (keys.setdefault(k, len(keys)) for k in zip(ctx, ta, tb, strict=True)), np.int64, len(ta)
    )
    uniq = list(keys)
    with progress_bar("tagging pairs", total=len(uniq)) as advance:
        tags = judge_properties(
            tagger,
            prompts,
            [c or "" for c, _, _ in uniq],
            [a for _, a, _ in uniq],
            [b for _, _, b in uniq],
            progress=advance,
        )
    if tags.n_unreadable:
        console.print(
            f"[yellow]{tags.n_unreadable} of {len(uniq)} tagging replies could not be read[/yellow]"
        )
    return (tags.a.values - tags.b.values)[idx], tags.a.names


def _differences(
    pairs: Any, spec: str, item_props: Path | None, tagger: str | None = None, prompts_dir: Path | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    from prefkit.analysis.pairs import item_property_differences, property_differences
    from prefkit.analysis.properties import ALL_COMPUTED, DEFAULT_COMPUTED, PropertyTable, user_properties
    from prefkit.errors import DataProblemError, ValidationError

    if spec == "judge":
        return _judge_differences(pairs, tagger, prompts_dir)
    names = (
        list(DEFAULT_COMPUTED) if spec == "computed" else [s.strip() for s in spec.split(",") if s.strip()]
    )
    if not names:
        raise ValidationError("--properties: give computed, judge or a comma-separated list of columns")
    computed = [n for n in names if n in ALL_COMPUTED]
    user = [n for n in names if n not in ALL_COMPUTED]
    blocks: list[tuple[np.ndarray, tuple[str, ...]]] = []
    if computed:
        blocks.append(property_differences(pairs, computed))
    if user:
        if item_props is None:
            raise ValidationError(
                f"--properties: unknown properties {user}; computed ones are {', '.join(ALL_COMPUTED)}; "
                "user columns need --item-properties FILE"
            )
        items, values = _read_item_table(item_props)
        missing_cols = [u for u in user if u not in values]
        if missing_cols:
            raise ValidationError(
                f"--properties: {missing_cols} are not columns of {item_props} (it has {', '.join(values)})"
            )
        row_of = {n: k for k, n in enumerate(items)}
        absent = [n for n in pairs.item_names if n not in row_of]
        if absent:
            raise DataProblemError(
                f"{item_props}: no row for {len(absent)} judged item(s) (first: {absent[0]!r}); add them"
            )
        idx = np.array([row_of[n] for n in pairs.item_names], dtype=np.int64)
        table = user_properties({u: np.asarray(values[u])[idx] for u in user})
        blocks.append(
            (item_property_differences(pairs, PropertyTable(table.names, table.values)), table.names)
        )
    x = np.hstack([b[0] for b in blocks])
    order = {n: k for k, n in enumerate(sum((list(b[1]) for b in blocks), []))}
    cols = [order[n] for n in names]
    return x[:, cols], tuple(names)


@explain_app.command("dissect")
def dissect_cmd(
    file: Path = typer.Argument(..., help=FILE_HELP),
    properties: str = typer.Option(
        "computed", "--properties", "-p", help="computed | judge | a comma-separated list of property names."
    ),
    item_properties: Path = typer.Option(
        None, "--item-properties", help="CSV/JSONL with an 'item' column and numeric property columns."
    ),
    by: str = typer.Option(
        "judge", "--by", help="all | judge | annotator | kind | category | an annotator group attribute."
    ),
    ties: str = typer.Option("drop", "--ties", help="drop | half (a tie is half a win for each side)."),
    prior: float = typer.Option(
        1.0, "--prior", help="Gaussian prior precision on the (standardized) weights."
    ),
    level: float = typer.Option(0.95, "--level", help="Posterior interval coverage."),
    min_n: int = typer.Option(
        30, "--min-n", help="Groups with fewer usable judgments are reported, not fitted."
    ),
    position: bool = typer.Option(False, "--position", help="Also fit a flat-prior pull towards side a."),
    tagger: str = typer.Option(
        None,
        "--tagger",
        help="With --properties judge: MODULE:FACTORY returning an LLM judge (complete(prompts)).",
    ),
    prompts_dir: Path = typer.Option(
        None, "--prompts", help="With --properties judge: the Preference Dissection prompts directory."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
) -> None:
    """Which properties drive each group's verdicts: Bayesian logistic regression on property differences.

    Example: prefkit explain dissect llmfao/ --properties computed --by judge --format json
    """
    from prefkit.analysis.dissect import dissect
    from prefkit.analysis.pairs import group_codes

    _check_format(fmt)
    pairs = load_pairs(file)
    g, gn = group_codes(pairs, by)
    x, names = _differences(pairs, properties, item_properties, tagger, prompts_dir)
    res = dissect(
        x,
        pairs.outcome,
        names,
        g,
        gn,
        ties=ties,
        prior_precision=prior,
        level=level,
        min_n=min_n,
        intercept=position,
    )
    if fmt == "json":
        print_json(res.to_dict())
        return
    from rich.table import Table

    for grp in res.groups:
        t = Table(title=f"{grp.group}: n={grp.n} (ties {grp.n_ties}), fitted accuracy {grp.accuracy:.3f}")
        for col in ("property", "mean", f"{int(level * 100)}% interval"):
            t.add_column(col, justify="left" if col == "property" else "right")
        for w in grp.weights:
            iv = f"[{w.lower:+.3f}, {w.upper:+.3f}]" if w.estimable else "not estimable"
            t.add_row(w.property, f"{w.mean:+.3f}" if w.estimable else "-", iv)
        if grp.position is not None:
            w = grp.position
            t.add_row(w.property, f"{w.mean:+.3f}", f"[{w.lower:+.3f}, {w.upper:+.3f}]")
        console.print(t)
    if len(res.groups) > 1:
        names_g = [grp.group for grp in res.groups]
        t = Table(title="cosine similarity of weight vectors")
        t.add_column("group")
        for n in names_g:
            t.add_column(n, justify="right")
        for i, n in enumerate(names_g):
            t.add_row(n, *[f"{v:.3f}" if np.isfinite(v) else "-" for v in res.similarity[i]])
        console.print(t)
    for g_name, count in res.too_few:
        console.print(
            f"[yellow]{g_name}: only {count} usable judgments (< --min-n {min_n}), not fitted[/yellow]"
        )
    for note in res.notes:
        console.print(f"[yellow]{note}[/yellow]")


def _is_sparse_feedback(path: Path) -> bool:
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(encoding="utf-8", newline="") as fh:
        try:
            first = next(csv.reader(fh))
        except (StopIteration, csv.Error, UnicodeDecodeError):
            return False
    if len(first) == 5:
        return first[4].strip() in ("(a)", "(b)", "equal")
    if len(first) == 4:
        try:
            float(first[3])
        except ValueError:
            return False
        return True
    return False


def _rating_vs_ranking(file: Path, ratings: list[Path]) -> tuple[Any, Any]:
    """(RatingRankingConsistency, (a, b, outcome, n_items, names) of the ranked pairs)."""
    from prefkit.analysis.consistency import rating_vs_ranking
    from prefkit.analysis.sparse_feedback import read_sparse_feedback
    from prefkit.data import io
    from prefkit.data.convert import ranking_to_pairs
    from prefkit.errors import DataProblemError

    if _is_sparse_feedback(file) and all(_is_sparse_feedback(r) for r in ratings):
        x = read_sparse_feedback(ratings, file)
        names = tuple(f"response {k}" for k in range(x.n_items))
        try:
            res = rating_vs_ranking(x.rated_item, x.score, x.a, x.b, x.outcome, x.n_items)
        except DataProblemError as exc:
            raise DataProblemError(f"{file} and {', '.join(map(str, ratings))}: {exc}") from None
        return res, (x.a, x.b, x.outcome, x.n_items, names)
    ranked = io.read(file)
    pw = ranked.pairwise
    if len(ranked.rankings):
        from prefkit.data.model import PairwiseTable

        pw = PairwiseTable.concat([pw, ranking_to_pairs(ranked.rankings)])
    if not len(pw):
        raise DataProblemError(f"{file}: no pairwise judgments or rankings to compare with the ratings")
    code = {n: k for k, n in enumerate(ranked.items.names)}
    items: list[int] = []
    scores: list[float] = []
    for rp in ratings:
        rd = io.read(rp)
        if not len(rd.ratings):
            raise DataProblemError(f"{rp}: no ratings in this file")
        for it, s in zip(rd.ratings.item.tolist(), rd.ratings.score.tolist(), strict=True):
            items.append(code.setdefault(rd.items.name(it), len(code)))
            scores.append(s)
    n = len(code)
    try:
        res = rating_vs_ranking(np.array(items), np.array(scores), pw.a, pw.b, pw.outcome, n)
    except DataProblemError as exc:
        raise DataProblemError(f"{file} and {', '.join(map(str, ratings))}: {exc}") from None
    return res, (pw.a, pw.b, pw.outcome, n, tuple(code))


@explain_app.command("consistency")
def consistency_cmd(
    file: Path = typer.Argument(..., help=FILE_HELP + " With --ratings: the rankings / pairwise file."),
    ratings: list[Path] = typer.Option(
        None, "--ratings", help="Ratings of the same responses (repeatable): compare ratings with rankings."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
) -> None:
    """Label consistency: ratings vs rankings, 3-cycles in the comparison graph, repeated-pair agreement.

    Example: prefkit explain consistency rankings.csv --ratings ratings.csv --format json
    """
    from prefkit.analysis.consistency import self_consistency, transitivity

    _check_format(fmt)
    out: dict[str, Any] = {"rating_vs_ranking": None}
    if ratings:
        rr, (a, b, o, n_items, names) = _rating_vs_ranking(file, ratings)
        out["rating_vs_ranking"] = rr.to_dict()
        ann, n_ann, ctx = None, 0, None
    else:
        pairs = load_pairs(file)
        a, b, o, n_items, names = pairs.a, pairs.b, pairs.outcome, len(pairs.item_names), pairs.item_names
        ann, n_ann, ctx = pairs.annotator, len(pairs.annotator_names), pairs.context
    t = transitivity(a, b, o, n_items, ann, n_ann)
    out["transitivity"] = {
        "n_items": t.n_items,
        "n_edges": t.n_edges,
        "triangles": t.triangles,
        "cycles": t.cycles,
        "cyclic_share": None if not t.triangles else round(t.cyclic_share, 6),
        "annotator_cycles": int(t.per_annotator[:, 0].sum()) if n_ann else None,
        "examples": [[names[i], names[j], names[k]] for i, j, k in t.examples],
    }
    if ann is not None:
        sc = self_consistency(a, b, o, ann, n_ann, ctx)
        out["self_consistency"] = {
            "repeated_pairs": int(sc.repeats.sum()),
            "agreement": None if not np.isfinite(sc.overall) else round(sc.overall, 6),
        }
    if fmt == "json":
        print_json(out)
        return
    rr_d = out["rating_vs_ranking"]
    if rr_d:
        console.print(
            f"ratings vs rankings: {rr_d['n_pairs']} pairs, disagreement {rr_d['disagreement']:.1%} "
            f"(opposite winners {rr_d['opposite_decisive']:.1%} of decisive pairs; one side tie "
            f"{rr_d['one_side_tie']:.1%}); {rr_d['n_unmatched']} ranked pairs without both ratings"
        )
    tr = out["transitivity"]
    share = f"{tr['cyclic_share']:.1%}" if tr["cyclic_share"] is not None else "-"
    console.print(
        f"comparison graph: {tr['n_items']} items, {tr['n_edges']} majority edges, {tr['triangles']} compared "
        f"triads, {tr['cycles']} 3-cycles ({share})"
    )
    for cyc in tr["examples"][:5]:
        console.print("  cycle: " + " > ".join(map(str, [*cyc, cyc[0]])))
    if "self_consistency" in out:
        s = out["self_consistency"]
        ag = f"{s['agreement']:.1%}" if s["agreement"] is not None else "-"
        console.print(f"self-consistency: {s['repeated_pairs']} repeated pairs, repeat agreement {ag}")


@explain_app.command("annotators")
def annotators_cmd(
    file: Path = typer.Argument(..., help=FILE_HELP),
    clusters: int = typer.Option(2, "--clusters", help="Number of annotator clusters to look for."),
    min_n: int = typer.Option(10, "--min-n", help="Spam checks need at least this many judgments."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
) -> None:
    """Annotator reliability (Dawid-Skene, no gold), agreement, clusters and spam flags.

    Example: prefkit explain annotators llmfao/ --format json
    """
    from prefkit.errors import DataProblemError
    from prefkit.report.page import Explained, explain_annotators

    _check_format(fmt)
    pairs = load_pairs(file)
    if not len(pairs.annotator_names) or not (pairs.annotator >= 0).any():
        raise DataProblemError(f"{file}: the judgments name no annotators, so there is no one to assess")
    ex = explain_annotators(Explained(pairs=pairs), n_clusters=clusters, min_n=min_n)
    cl, spam = ex.clusters, ex.spam
    if spam is None:  # pragma: no cover - set whenever there are annotators
        raise DataProblemError(ex.skipped.get("annotators", "no annotators"))
    rows = []
    for k, name in enumerate(pairs.annotator_names):
        rows.append(
            {
                "annotator": name,
                "kind": pairs.annotator_kind.get(name, "human"),
                "n": int(spam.n[k]),
                "ds_accuracy": None
                if ex.reliability is None
                else round(float(ex.reliability.accuracy[k]), 6),
                "agreement_with_others": None
                if ex.agreement is None or not np.isfinite(ex.agreement[k])
                else round(float(ex.agreement[k]), 6),
                "share_a": round(float(spam.share_a[k]), 6),
                "share_tie": round(float(spam.share_tie[k]), 6),
                "cluster": None if cl is None or cl.labels[k] < 0 else int(cl.labels[k]),
                "flags": list(spam.flags[k]),
            }
        )
    out: dict[str, Any] = {
        "annotators": rows,
        "alpha_by_kind": {k: (None if not np.isfinite(v) else round(v, 6)) for k, v in ex.alphas.items()},
        "clusters": None
        if cl is None
        else {"within_agreement": round(cl.within, 6), "between_agreement": round(cl.between, 6)},
        "flagged": [pairs.annotator_names[k] for k in spam.flagged()],
        "skipped": ex.skipped,
    }
    if fmt == "json":
        print_json(out)
        return
    from rich.table import Table

    t = Table(title="annotators (least reliable first)")
    for col in ("annotator", "n", "DS accuracy", "agreement", "cluster", "flags"):
        t.add_column(col, justify="left" if col in ("annotator", "flags") else "right")

    def key(r: dict[str, Any]) -> float:
        return r["ds_accuracy"] if r["ds_accuracy"] is not None else 2.0

    for r in sorted(rows, key=key)[:30]:
        t.add_row(
            r["annotator"],
            str(r["n"]),
            "-" if r["ds_accuracy"] is None else f"{r['ds_accuracy']:.3f}",
            "-" if r["agreement_with_others"] is None else f"{r['agreement_with_others']:.3f}",
            "-" if r["cluster"] is None else str(r["cluster"]),
            ", ".join(r["flags"]),
        )
    console.print(t)
    for kind, v in out["alpha_by_kind"].items():
        console.print(f"Krippendorff's alpha among {kind} annotators: {'-' if v is None else f'{v:.3f}'}")
    if cl is not None:
        console.print(f"clusters: agreement within {cl.within:.3f}, between {cl.between:.3f}")
    console.print(f"flagged: {', '.join(out['flagged']) or 'none'}")


def _read_margins(path: Path) -> np.ndarray:
    """Margins ``r_preferred - r_other`` from ``prefkit reward score`` output (ties skipped)."""
    from prefkit.errors import InputError

    if not path.is_file():
        raise InputError("no such file; check the path", path=path)
    out: list[float] = []
    with path.open(encoding="utf-8") as fh:
        for k, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not a JSON object ({exc.msg})", path=path, line=k) from None
            if "reward_chosen" in r and "reward_rejected" in r:
                out.append(float(r["reward_chosen"]) - float(r["reward_rejected"]))
            elif "reward_a" in r and "reward_b" in r:
                o = r.get("outcome")
                if o == "a":
                    out.append(float(r["reward_a"]) - float(r["reward_b"]))
                elif o == "b":
                    out.append(float(r["reward_b"]) - float(r["reward_a"]))
            elif "reward" in r:
                continue  # a per-response row (rankings / ratings): no pair
            else:
                raise InputError(
                    "expected reward_chosen/reward_rejected or reward_a/reward_b (prefkit reward score output)",
                    path=path,
                    line=k,
                )
    if not out:
        raise InputError("no scored pairs in this file", path=path)
    return np.asarray(out)


def report(
    file: Path = typer.Argument(..., help=FILE_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="The HTML file to write."),
    by: str = typer.Option("judge", "--by", help="Groups of the property weights (as in explain dissect)."),
    scores: Path = typer.Option(
        None, "--scores", help="A reward model's scores of these pairs (prefkit reward score output)."
    ),
    ratings: list[Path] = typer.Option(
        None, "--ratings", help="Ratings of the same responses (consistency)."
    ),
    title: str = typer.Option("prefkit report", "--title", help="Title of the page."),
) -> None:
    """Write one self-contained HTML report (no network): leaderboard, property weights, agreement, consistency.

    Example: prefkit report llmfao/ --out report.html
    """
    from prefkit.errors import ValidationError
    from prefkit.report.page import explain_pairs, render_report

    if out.suffix.lower() not in (".html", ".htm"):
        raise ValidationError(f"--out must end in .html, got {out.name!r}")
    from prefkit.analysis.pairs import group_codes

    pairs = load_pairs(file)
    group_codes(pairs, by)  # an unknown --by is an error, not a skipped section
    margins = _read_margins(scores) if scores is not None else None
    rr = _rating_vs_ranking(file, ratings)[0] if ratings else None
    ex = explain_pairs(pairs, by=by, margins=margins, rating_ranking=rr)
    page = render_report(ex, title=title)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    console.print(f"wrote {out} ({len(page) / 1024:.0f} KiB)")


def register(app: typer.Typer) -> None:
    """Add ``explain`` and ``report`` to the main app."""
    app.add_typer(explain_app, name="explain")
    app.command("report")(report)
