"""``prefkit route``: hybrid human/AI annotation (HyPER): features, the performance-prediction model, budgeted
plans for the web app, and the simulation against held-back human votes."""

from __future__ import annotations

import json
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import typer

from prefkit.cli._common import console, output_file, print_json
from prefkit.errors import DataProblemError, InputError, ValidationError

route_app = typer.Typer(
    help="Route instances to people or a judge under a budget (HyPER).", no_args_is_help=True
)

DATA_HELP = "Judged pairs: any prefkit-readable file (arena log, TRL, prefkit JSONL, crowd CSV), a store, or an llmfao directory."
MODEL_KIND = "route-ppm"


def _load(path: Path) -> Any:
    from prefkit.cli.explain import load_pairs

    return load_pairs(path)


def _instances(file: Path, ai: Path | None, *, all_rows: bool = False) -> Any:
    from prefkit.routing.instances import pair_instances

    return pair_instances(
        _load(file), _load(ai) if ai is not None else None, human_name=str(file),
        ai_name=str(ai) if ai is not None else "", all_rows=all_rows,
    )  # fmt: skip


def _swap(ai: Path | None, inst: Any) -> Any:
    """Per instance, 1.0 where a both-orders judge log (``prefkit judge run``: order1 / order2 columns) changed
    its verdict with the order; None when ``ai`` has no such columns."""
    import numpy as np

    from prefkit.cli.explain import _is_sqlite

    if ai is None or not ai.is_file() or _is_sqlite(ai) or inst.ai_row is None:
        return None
    from prefkit.annotation.run import read_orders
    from prefkit.data import io

    ds = io.read(ai)
    orders = read_orders(ai, ds)
    if orders is not None:
        o1, o2 = orders
        flip = ((o1 >= 0) & (o2 >= 0) & (o1 != o2)).astype(np.float64)
    else:  # only the ``flipped`` column (the verdict followed the position in both orders)
        from prefkit.data import _tabular

        container = _tabular.container_of(ai)
        if "flipped" not in (_tabular.columns(ai, container) or []):
            return None
        by_line = {
            line: rec.get("flipped") in (True, "true", "True", 1)
            for line, rec in _tabular.rows(ai, container)
        }
        flip = np.asarray([by_line.get(int(ln), False) for ln in ds.pairwise.line.tolist()], dtype=np.float64)
    return np.where(inst.ai_row >= 0, flip[np.clip(inst.ai_row, 0, None)], 0.0)


def _ids(n: int) -> list[str]:
    return [f"p{i + 1}" for i in range(n)]


def _read_columns(path: Path, inst: Any) -> Any:
    """User feature columns (JSONL, one object per instance with its ``id``) in instance order."""
    from prefkit.routing.features import Features

    rows: dict[str, dict[str, Any]] = {}
    try:
        with path.open(encoding="utf-8") as fh:
            for k, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"not a JSON object ({exc.msg})", path=path, line=k) from None
                if not isinstance(rec, dict) or "id" not in rec:
                    raise InputError(
                        "expected a JSON object with the instance 'id' and feature columns", path=path, line=k
                    )
                rows[str(rec["id"])] = rec
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text; give JSONL feature rows", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    ids = _ids(len(inst))
    missing = [i for i in ids if i not in rows]
    if missing:
        raise DataProblemError(
            f"{path}: no feature row for instance {missing[0]} ({len(missing)} missing); make the file with "
            "prefkit route features on the same data file"
        )
    return Features.from_rows([rows[i] for i in ids], skip=("id", "context", "a", "b"))


def _features(inst: Any, *, lexical: bool, judge: bool, columns: Path | None, swap: Any = None) -> Any:
    from prefkit.routing.features import Features, lexical_features
    from prefkit.routing.signals import judge_features

    f = Features(len(inst))
    if lexical:
        f = f.merge(lexical_features(inst.prompt, inst.text_a, inst.text_b))
    if judge:
        if (inst.ai < 0).any():
            raise ValidationError(
                "the judge features need the AI's verdicts: give --ai AI_FILE (or --no-judge)"
            )
        f = f.merge(judge_features(inst, swap))
    if columns is not None:
        f = f.merge(_read_columns(columns, inst))
    if not f.names:
        raise ValidationError("no feature left: keep the lexical or judge features, or give --features FILE")
    return f


def _tagger(
    stack: ExitStack,
    model: str,
    base_url: str | None,
    cache: Path | None,
    no_cache: bool,
    seed: int,
    progress: Any = None,
) -> Any:
    from prefkit.annotation.factory import JudgeOptions, open_runner
    from prefkit.annotation.tagging import ChatTagger
    from prefkit.cli.judge import _cache

    opts = JudgeOptions(base_url=base_url, cache=_cache(cache, no_cache, model), seed=seed)
    return ChatTagger(stack.enter_context(open_runner(model, opts)), seed=seed, progress=progress)


@route_app.command("features")
def features_cmd(
    file: Path = typer.Argument(..., help=DATA_HELP),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Feature rows (JSONL: id, context, a, b, features).", callback=output_file
    ),
    ai: Path = typer.Option(
        None, "--ai", help="The AI's verdicts on the same pairs: adds ai_verdict and leaderboard_value."
    ),
    lexical: bool = typer.Option(
        True, "--lexical/--no-lexical", help="Lengths, length difference, overlap, similarity, prompt length."
    ),
    tagger: str = typer.Option(
        None,
        "--tagger",
        help="Chat model that tags each prompt on HyPER's dimensions: local:smollm2 or a server's model (--base-url).",
    ),
    configs: Path = typer.Option(
        None, "--configs", help="HyPER's tagging_configs.json (needed with --tagger)."
    ),
    dims: str = typer.Option(
        None,
        "--dims",
        help="Comma-separated dimensions (default: safety_concern, complexity_of_intents, expertise_level, open_endedness, format_constraints).",
    ),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server of --tagger."),
    reward: Path = typer.Option(
        None,
        "--reward",
        help="A reward model folder (prefkit reward train --out DIR): adds reward_uncertainty, 1 - |2p - 1|.",
    ),
    cache: Path = typer.Option(None, "--cache", help="Reply cache (SQLite; default ~/.cache/prefkit)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the reply cache."),
    seed: int = typer.Option(0, "--seed", help="Sampling seed of the tagger."),
) -> None:
    """Compute the routing features of every pair of FILE (one row per distinct pair, ids p1, p2, ...).

    Example: prefkit route features llmfao/ --ai llmfao/ --out features.jsonl
    """
    from prefkit.routing.features import DEFAULT_DIMENSIONS, read_dimensions, tagged_features

    dimensions = None
    if tagger is None and (configs is not None or dims is not None):
        raise ValidationError("--configs and --dims go with --tagger MODEL (the chat model that tags)")
    if tagger is not None:  # bad settings fail before any work
        from prefkit.annotation.tagging import read_tagging_configs

        if configs is None:
            raise ValidationError(
                "--tagger needs --configs tagging_configs.json (HyPER's tagging dimensions)"
            )
        names = [d.strip() for d in dims.split(",") if d.strip()] if dims else list(DEFAULT_DIMENSIONS)
        dimensions = read_dimensions(read_tagging_configs(configs), names)
    inst = _instances(file, ai, all_rows=ai is None)
    if ai is None:
        import numpy as np

        inst.ai = np.full(len(inst), -1, dtype=np.int8)
    swap = _swap(ai, inst)
    f = (
        _features(inst, lexical=lexical, judge=ai is not None, columns=None, swap=swap)
        if (lexical or ai)
        else None
    )
    if reward is not None:
        f = _reward_feature(reward, inst) if f is None else f.merge(_reward_feature(reward, inst))
    if tagger is not None and dimensions is not None:
        from prefkit.cli._common import progress_bar

        calls = len({p for p in inst.prompt if p is not None}) * len(dimensions)
        with ExitStack() as stack:
            advance = stack.enter_context(progress_bar(f"tagging {calls} prompts x dimensions", calls))
            chat = _tagger(stack, tagger, base_url, cache, no_cache, seed, advance)
            tags = tagged_features(chat, inst.prompt, dimensions)
        f = tags if f is None else f.merge(tags)
    if f is None:
        raise ValidationError("no feature asked for: keep --lexical, give --ai, --tagger or --reward")
    with out.open("w", encoding="utf-8") as fh:
        for i, (key, row) in enumerate(zip(inst.keys, f.rows(), strict=True)):
            fh.write(
                json.dumps(
                    {"id": f"p{i + 1}", "context": key[0], "a": key[1], "b": key[2], **row},
                    ensure_ascii=False,
                )
                + "\n"
            )
    console.print(f"{len(inst)} instances, {len(f.names)} features ({', '.join(f.names)}) -> {out}")


def _reward_feature(model_dir: Path, inst: Any) -> Any:
    from prefkit.cli._chat import reward_p_first
    from prefkit.routing.features import Features
    from prefkit.routing.signals import reward_uncertainty

    for seq in (inst.text_a, inst.text_b):
        missing = [i for i, t in enumerate(seq) if t is None]
        if missing:
            raise DataProblemError(
                f"{len(missing)} of {len(inst)} pairs lack a response text (first: pair p{missing[0] + 1}); the "
                "reward model scores texts"
            )
    p_first = reward_p_first(str(model_dir))
    p = p_first([t or "" for t in inst.prompt], list(inst.text_a), list(inst.text_b))
    return Features(len(inst), numeric={"reward_uncertainty": reward_uncertainty(p)})


@route_app.command("fit")
def fit_cmd(
    human: Path = typer.Option(..., "--human", help="Human votes (" + DATA_HELP + ")"),
    ai: Path = typer.Option(..., "--ai", help="The AI's verdicts on the same pairs."),
    out: Path = typer.Option(..., "--out", "-o", help="The fitted model (JSON).", callback=output_file),
    features: Path = typer.Option(
        None, "--features", help="Extra feature rows from prefkit route features (JSONL)."
    ),
    lexical: bool = typer.Option(True, "--lexical/--no-lexical", help="Use the lexical features."),
    judge: bool = typer.Option(
        True, "--judge/--no-judge", help="Use the AI verdict and the pair's leaderboard value."
    ),
    bins: int = typer.Option(4, "--bins", help="Quantile bins of each numeric feature."),
    l2: float = typer.Option(1.0, "--l2", help="Ridge penalty of the performance-prediction model."),
) -> None:
    """Fit HyPER's performance-prediction model: which kinds of pairs gain most from a human label.

    The gain of a pair is the expected agreement of one of its human votes with its other votes minus the AI's;
    the model regresses it on the binary features (pairs with >= 2 human votes).

    Example: prefkit route fit --human llmfao/ --ai llmfao/ --out route-model.json
    """
    from prefkit.routing.features import Design
    from prefkit.routing.instances import expected_agreement
    from prefkit.routing.ppm import fit_ppm

    inst = _instances(human, ai)
    f = _features(inst, lexical=lexical, judge=judge, columns=features, swap=_swap(ai, inst))
    design = Design(bins=bins).fit(f)
    x = design.transform(f)
    h, m = expected_agreement(inst.vote_counts, inst.ai.astype("int64"))
    model = fit_ppm(x, h - m, design.names, l2=l2)
    doc = {
        "kind": MODEL_KIND, "lexical": lexical, "judge": judge,
        "columns": [n for n in f.names if features is not None and n not in _builtin(lexical, judge)],
        "design": design.to_json(), "ppm": model.to_json(),
    }  # fmt: skip
    out.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    top = sorted(zip(model.coef.tolist(), design.names, strict=True), reverse=True)[:5]
    console.print(
        f"fitted on {model.info['n']} pairs with >= 2 human votes ({len(design.names)} binary features) -> {out}; "
        "largest gains: " + ", ".join(f"{n} {c:+.3f}" for c, n in top)
    )


def _builtin(lexical: bool, judge: bool) -> set[str]:
    from prefkit.routing.features import LEXICAL

    return {
        *(LEXICAL if lexical else ()),
        *(("ai_verdict", "leaderboard_value", "swap_inconsistent") if judge else ()),
    }


def _read_model(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=path) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"not a routing model (JSON) ({exc})", path=path) from None
    if not isinstance(doc, dict) or doc.get("kind") != MODEL_KIND:
        raise InputError("not a routing model; make one with prefkit route fit --out MODEL.json", path=path)
    return doc


@route_app.command("plan")
def plan_cmd(
    file: Path = typer.Argument(..., help="The pairs to route (with texts): " + DATA_HELP),
    budget: float = typer.Option(..., "--budget", "-b", help="Fraction of the pairs for people, in [0, 1]."),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="The plan: web-app campaign rows plus route and gain (JSONL).",
        callback=output_file,
    ),
    ppm: Path = typer.Option(
        None,
        "--model",
        help="A model from prefkit route fit (default: route where FILE's verdicts disagree, else at random).",
    ),
    ai: Path = typer.Option(
        None, "--ai", help="The AI's verdicts on these pairs (when the model uses them)."
    ),
    features: Path = typer.Option(
        None,
        "--features",
        help="Feature rows of these pairs (prefkit route features), when the model uses extra columns.",
    ),
    seed: int = typer.Option(
        0, "--seed", help="Seed breaking ties (the same file and seed give the same plan)."
    ),
) -> None:
    """Send the pairs of largest predicted gain to people until the budget is spent, the rest to the judge.

    Each plan row is a web-app campaign row ({"id", "context", "candidates": [{"id", "text"}, ...]}) with
    "route": "human" | "ai" and "gain".

    Example: prefkit route plan llmfao/ --model route-model.json --ai llmfao/ --budget 0.25 --out plan.jsonl
    """
    import numpy as np

    from prefkit.routing.features import Design
    from prefkit.routing.ppm import PPM, check_budget, plan_mask
    from prefkit.routing.signals import panel_disagreement

    b = check_budget(budget)
    doc = _read_model(ppm) if ppm is not None else None
    inst = _instances(file, ai, all_rows=ai is None)
    if ai is None:
        inst.ai = np.full(len(inst), -1, dtype=np.int8)
    for what, seq in (("response", inst.text_a), ("response", inst.text_b), ("prompt", inst.prompt)):
        missing = [i for i, t in enumerate(seq) if t is None]
        if missing:
            raise DataProblemError(
                f"{file}: {len(missing)} of {len(inst)} pairs lack a {what} text (first: pair p{missing[0] + 1}, "
                f"{inst.keys[missing[0]][1]} vs {inst.keys[missing[0]][2]}); a plan's rows carry the texts people see"
            )
    if doc is not None:
        if doc["columns"] and features is None:
            raise ValidationError(f"the model uses feature columns {doc['columns']}: give --features FILE")
        swap = _swap(ai, inst)
        f = _features(
            inst, lexical=bool(doc["lexical"]), judge=bool(doc["judge"]), columns=features, swap=swap
        )
        gain = PPM.from_json(doc["ppm"]).gain(Design.from_json(doc["design"]).transform(f))
        how = "the model's predicted gain"
    elif (swap := _swap(ai, inst)) is not None and swap.any():
        gain = swap
        how = "the judge's swap inconsistency"
    else:
        gain = panel_disagreement(inst.vote_matrix())
        how = "disagreement of FILE's verdicts" if gain.any() else "random (no model, no disagreement)"
    mask = plan_mask(gain, b, seed)
    with out.open("w", encoding="utf-8") as fh:
        for i, key in enumerate(inst.keys):
            row = {
                "id": f"p{i + 1}", "context": inst.prompt[i],
                "candidates": [{"id": key[1], "text": inst.text_a[i]}, {"id": key[2], "text": inst.text_b[i]}],
                "route": "human" if mask[i] else "ai", "gain": float(gain[i]),
            }  # fmt: skip
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    console.print(
        f"{int(mask.sum())} of {len(inst)} pairs to people, the rest to the judge (by {how}) -> {out}"
    )


@route_app.command("simulate")
def simulate_cmd(
    human: Path = typer.Option(..., "--human", help="Human votes, several per pair (" + DATA_HELP + ")"),
    ai: Path = typer.Option(..., "--ai", help="The AI's verdicts on the same pairs."),
    budget: float = typer.Option(0.25, "--budget", "-b", help="Fraction of the pairs for people, in [0, 1]."),
    seeds: int = typer.Option(
        20, "--seeds", help="Random splits (which human vote is the routed one, folds)."
    ),
    features: Path = typer.Option(
        None, "--features", help="Extra feature rows from prefkit route features (JSONL)."
    ),
    folds: int = typer.Option(2, "--folds", help="Cross-fitting folds of the performance-prediction model."),
    seed: int = typer.Option(0, "--seed", help="Master seed."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Score routed, random, all-AI and all-human labels against held-back human votes.

    For each split one human vote per pair is the label a person would give, the others are held back; the
    routed policy sends the pairs of largest cross-fitted predicted gain to people.

    Example: prefkit route simulate --human llmfao/ --ai llmfao/ --budget 0.25 --seeds 20 --format json
    """
    from prefkit.cli._common import progress_bar
    from prefkit.routing.features import Design
    from prefkit.routing.ppm import check_budget
    from prefkit.routing.simulate import simulate

    if fmt not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {fmt!r}")
    b = check_budget(budget)
    inst = _instances(human, ai)
    f = _features(inst, lexical=_has_texts(inst), judge=True, columns=features, swap=_swap(ai, inst))
    design = Design().fit(f)
    results, info = simulate(
        inst, design.transform(f), design.names, [b], seeds=seeds, folds=folds, seed=seed,
        progress=partial(progress_bar, quiet=quiet or fmt == "json"),
    )  # fmt: skip
    res = results[0]
    if fmt == "json":
        print_json(res.to_json())
        return
    from rich.table import Table

    table = Table(title=f"budget {b:g}: {info['instances']} pairs with >= 2 human votes, {seeds} splits")
    for col in ("policy", "agreement", "95% interval", "tau"):
        table.add_column(col)
    for p in res.policies:
        table.add_row(
            p.policy,
            f"{p.agreement:.4f}",
            f"[{p.agreement_lower:.4f}, {p.agreement_upper:.4f}]",
            f"{p.tau:.3f}",
        )
    console.print(table)
    d, lo, hi = res.diff
    console.print(f"routed - random: {d:+.4f} [{lo:+.4f}, {hi:+.4f}]")


def _has_texts(inst: Any) -> bool:
    return (
        all(t is not None for t in inst.text_a)
        and all(t is not None for t in inst.text_b)
        and all(p is not None for p in inst.prompt)
    )


def register(app: typer.Typer) -> None:
    """Add ``route`` to the main app."""
    app.add_typer(route_app, name="route")
