"""``prefkit bench``: harnesses that put a model under test (PrefEval, DailyDilemmas) and rating prediction.

Each harness writes its raw answers (``answers.jsonl``) and a summary (``summary.json``) into ``--out DIR``;
LLM replies go through the reply cache, so a run that crashed resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import typer

from prefkit.cli._common import console, input_file, output_dir, print_json
from prefkit.errors import BackendError, InputError, ValidationError

bench_app = typer.Typer(
    name="bench",
    help="Benchmarks of a model under test: PrefEval, DailyDilemmas value profiles, rating prediction.",
    no_args_is_help=True,
)

MODEL_HELP = (
    "Model under test: local:smollm2 (packaged local model), scripted (deterministic stand-in), or a model name "
    "on an OpenAI-compatible server (--base-url; key from OPENAI_API_KEY)."
)


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {fmt!r}")


def _write(out: Path, records: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "answers.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    tmp.replace(out / "answers.jsonl")
    tmp = out / "summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out / "summary.json")


def _resume_hint(no_cache: bool) -> str:
    if no_cache:
        return "--no-cache kept nothing: run again without it to resume"
    return "the answers so far are in the reply cache: run the same command again to resume where it stopped"


def check_answered(chats: list[Any], no_cache: bool) -> None:
    """A run where some requests got no answer (the server kept failing) stops here, before a summary that would
    count them as wrong: what was answered is in the reply cache, so the same command resumes."""
    failed = sum(int(getattr(c, "failed", 0)) for c in chats if c is not None)
    if failed:
        raise BackendError(
            f"{failed} requests to the model got no answer (the server kept failing); nothing written; "
            f"{_resume_hint(no_cache)}"
        )


@contextmanager
def resumable(no_cache: bool) -> Iterator[None]:
    """A backend error that stops a run (the server refused or went away) says how to resume it."""
    try:
        yield
    except BackendError as exc:
        msg = str(exc)
        if "resume" not in msg:
            raise BackendError(f"{msg}; nothing written; {_resume_hint(no_cache)}") from None
        raise


def _ints(value: str, flag: str) -> list[int]:
    try:
        out = [int(x) for x in value.split(",") if x.strip()]
    except ValueError:
        raise ValidationError(f"{flag} takes comma-separated integers, got {value!r}") from None
    if not out or min(out) < 0:
        raise ValidationError(f"{flag} takes comma-separated integers >= 0, got {value!r}")
    return out


@bench_app.command("dilemmas")
def dilemmas_cmd(
    file: Path = typer.Argument(
        ..., help="DailyDilemmas by-action detail CSV (values_names per action).", callback=input_file
    ),
    model: list[str] = typer.Option(..., "--model", "-m", help=MODEL_HELP + " Repeat to compare models."),
    values: Path = typer.Option(
        None, "--values", help="The values table (default: values.csv beside FILE).", callback=input_file
    ),
    system: str = typer.Option(None, "--system", help="Also run each model with this system message."),
    limit: int = typer.Option(None, "--limit", "-n", help="Ask at most this many dilemmas."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder for answers.jsonl and summary.json.", callback=output_dir
    ),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server for --model."),
    cache: Path = typer.Option(None, "--cache", help="Reply cache (SQLite; default ~/.cache/prefkit)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the reply cache."),
    max_tokens: int = typer.Option(8, "--max-tokens", help="Answer length cap ('Action 1' is 3 tokens)."),
    prior: float = typer.Option(
        1.0, "--prior", help="Gaussian prior precision of the value Bradley-Terry fit."
    ),
    seed: int = typer.Option(0, "--seed", help="Sampling seed of the model."),
    top: int = typer.Option(10, "--top", help="Values shown per profile in the table."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Value profiles from DailyDilemmas: each model chooses an action per dilemma; its values are ranked.

    Example: prefkit bench dilemmas dilemmas_with_detail_by_action_test.csv --model local:smollm2 --system "Be cautious." --out dd/
    """
    from prefkit.analysis import dilemmas as dd
    from prefkit.cli._chat import open_chat
    from prefkit.cli._common import progress_bar
    from prefkit.cli._fit import bt_fitter

    _check_format(fmt)
    if limit is not None and limit < 1:
        raise ValidationError(f"--limit must be >= 1, got {limit}")
    if prior <= 0:
        raise ValidationError(f"--prior must be > 0, got {prior}")
    vpath = values or file.parent / "values.csv"
    if not vpath.is_file():
        raise InputError("no values table here; give --values values.csv", path=vpath)
    table = dd.read_values(vpath)
    items = dd.read_dilemmas(file, table)[:limit]
    runs = [(m, s) for m in model for s in ([None, system] if system else [None])]
    profiles, records, chats = [], [], []
    with resumable(no_cache), ExitStack() as stack:
        advance = stack.enter_context(
            progress_bar(f"asking {len(items)} dilemmas", len(items) * len(runs), quiet=quiet)
        )
        for m, s in runs:
            chat = open_chat(stack, m, base_url=base_url, cache=cache, no_cache=no_cache, max_tokens=max_tokens,
                             seed=seed, progress=advance)  # fmt: skip
            chats.append(chat)
            replies = dd.ask(chat, items, system=s)
            if not hasattr(chat, "progress"):
                advance(len(items))
            choices = [dd.parse_choice(r) for r in replies]
            name = m if s is None else f"{m} + system"
            profiles.append(dd.value_profile(items, choices, table, bt_fitter(prior), name=name))
            records += [
                {"model": m, "system": s, "idx": d.idx, "reply": r, "choice": ["to_do", "not_to_do", None][c]}
                for d, r, c in zip(items, replies, choices, strict=True)
            ]
        check_answered(chats, no_cache)
    summary = {"profiles": [p.to_dict() for p in profiles], "side_by_side": dd.compare_profiles(profiles)}
    if out is not None:
        _write(out, records, summary)
    if fmt == "json":
        print_json(summary)
        return
    from rich.table import Table

    for p in profiles:
        t = Table(
            title=f"{p.name}: {p.n_answered}/{p.n_dilemmas} answered, 'to do' chosen {p.to_do_share:.0%}"
        )
        for col in ("value", "strength", "wins", "losses"):
            t.add_column(col, justify="left" if col == "value" else "right")
        for v in p.values[:top]:
            t.add_row(v.value, f"{v.strength:+.2f} ± {v.se:.2f}", str(v.wins), str(v.losses))
        console.print(t)


@bench_app.command("prefeval")
def prefeval_cmd(
    data_dir: Path = typer.Argument(..., help="PrefEval's benchmark_dataset folder (CC BY-NC: not shipped)."),
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    judge: str = typer.Option(None, "--judge", help="Judge of the generation task (same values as --model)."),
    task: str = typer.Option("mcq", "--task", help="mcq | generation"),
    form: str = typer.Option("explicit", "--form", help="explicit | implicit-choice | implicit-persona"),
    topic: str = typer.Option(None, "--topics", help="Comma-separated topics (default: all 20)."),
    turns: str = typer.Option(
        "0", "--turns", help="Comma-separated distances: filler exchanges before the question."
    ),
    limit: int = typer.Option(None, "--limit", "-n", help="At most this many items per topic."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Folder for answers.jsonl and summary.json.", callback=output_dir
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="OpenAI-compatible server for --model and --judge."
    ),
    cache: Path = typer.Option(None, "--cache", help="Reply cache (SQLite; default ~/.cache/prefkit)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the reply cache."),
    max_tokens: int = typer.Option(256, "--max-tokens", help="Answer length cap of the model under test."),
    seed: int = typer.Option(0, "--seed", help="Seed of the option shuffle and of sampling."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """PrefEval: does the model follow a preference stated turns earlier? Accuracy by topic and by distance.

    Example: prefkit bench prefeval benchmark_dataset/ --model local:smollm2 --topics travel_restaurant --turns 0,4 --limit 5 --out pe/
    """
    from prefkit.analysis import prefeval as pe
    from prefkit.cli._chat import open_chat
    from prefkit.cli._common import progress_bar

    _check_format(fmt)
    if not data_dir.is_dir():
        raise InputError("not a directory; give PrefEval's benchmark_dataset folder", path=data_dir)
    if limit is not None and limit < 1:
        raise ValidationError(f"--limit must be >= 1, got {limit}")
    if task == "generation" and not judge:
        raise ValidationError("--task generation needs --judge (a chat model that applies PrefEval's checks)")
    distances = _ints(turns, "--turns")
    names = [t.strip() for t in topic.split(",") if t.strip()] if topic else None
    items = pe.read_prefeval(data_dir, form=form, task=task, topic_names=names)
    if limit is not None:
        seen: dict[str, int] = {}
        items = [
            it for it in items if (seen := {**seen, it.topic: seen.get(it.topic, 0) + 1})[it.topic] <= limit
        ]
    templates = pe.load_templates(data_dir) if task == "generation" else None
    with resumable(no_cache), ExitStack() as stack:
        advance = stack.enter_context(progress_bar("asking", len(items) * len(distances), quiet=quiet))
        chat = open_chat(stack, model, base_url=base_url, cache=cache, no_cache=no_cache, max_tokens=max_tokens,
                         seed=seed, progress=advance)  # fmt: skip
        jd = None
        if judge:
            jd = open_chat(
                stack, judge, base_url=base_url, cache=cache, no_cache=no_cache, max_tokens=64, seed=seed
            )
        records, summary = pe.run_prefeval(
            chat, items, task=task, turns=distances, judge=jd, templates=templates, seed=seed,
            progress=None if hasattr(chat, "progress") else advance,
        )  # fmt: skip
        check_answered([chat, jd], no_cache)
    summary.update({"model": model, "judge": judge, "form": form})
    if out is not None:
        _write(out, records, summary)
    if fmt == "json":
        print_json(summary)
        return
    from rich.table import Table

    for by in ("by_topic", "by_distance"):
        t = Table(title=f"{model}: {task}, {form}, {by.replace('_', ' ')}")
        for col in ("topic" if by == "by_topic" else "distance", "accuracy", "95% CI", "n"):
            t.add_column(col, justify="left" if col in ("topic", "distance") else "right")
        for c in summary[by]:
            t.add_row(c["key"], f"{c['accuracy']:.1%}", f"{c['lower']:.1%}-{c['upper']:.1%}", str(c["n"]))
        console.print(t)
    o = summary["overall"]
    console.print(f"overall {o['accuracy']:.1%} ({o['correct']}/{o['n']}); {summary['unparsed']} unparsed")


@bench_app.command("ratings")
def ratings_cmd(
    file: Path = typer.Argument(
        ...,
        help="Judged pairs with annotators and texts: a data file, a project store or an llmfao directory.",
    ),
    encoder: str = typer.Option(
        "all-MiniLM-L6-v2", "--encoder", help="Encoder of the item texts (or hashing)."
    ),
    test_share: float = typer.Option(0.2, "--test-share", help="Share of each user's ratings held out."),
    factors: int = typer.Option(20, "--factors", help="Latent factors of the SVD."),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder for answers.jsonl (predictions) and summary.json.",
        callback=output_dir,
    ),
    model: str = typer.Option(
        None, "--model", "-m", help=MODEL_HELP + " Also predicts each score from the annotator's history."
    ),
    history: int = typer.Option(5, "--history", help="Rated texts of the annotator shown to --model."),
    limit: int = typer.Option(
        None,
        "--limit",
        "-n",
        help="Score at most this many held-out ratings (a seeded subset), for every predictor.",
    ),
    base_url: str = typer.Option(None, "--base-url", help="OpenAI-compatible server for --model."),
    cache: Path = typer.Option(None, "--cache", help="Reply cache (SQLite; default ~/.cache/prefkit)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the reply cache."),
    max_tokens: int = typer.Option(8, "--max-tokens", help="Answer length cap of --model (one number)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and of the SVD."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Predict each annotator's scores of responses: collaborative filtering (SVD) against text embeddings and,
    with --model, an LLM reading the annotator's history.

    Each annotator's score of a response is its share of points in the comparisons they made (win 1, tie 1/2).

    Example: prefkit bench ratings llmfao/ --encoder all-MiniLM-L6-v2 --format json
    """
    import numpy as np

    from prefkit.analysis import rating_prediction as rp
    from prefkit.cli._common import progress_bar
    from prefkit.cli.explain import load_pairs
    from prefkit.reward.encoders import make_encoder, parse_encoder

    _check_format(fmt)
    if not 0.0 < test_share < 1.0:
        raise ValidationError(f"--test-share must be in (0, 1), got {test_share}")
    if factors < 1:
        raise ValidationError(f"--factors must be >= 1, got {factors}")
    if limit is not None and limit < 1:
        raise ValidationError(f"--limit must be >= 1, got {limit}")
    if history < 1:
        raise ValidationError(f"--history must be >= 1, got {history}")
    if not file.exists():
        raise InputError("no such file or directory; check the path", path=file)
    jp = load_pairs(file)
    if jp.text_a is None or jp.text_b is None:
        raise InputError("the pairs carry no response texts; the embedding predictor needs them", path=file)
    nc = int(jp.context.max()) + 2
    ia = jp.a.astype(np.int64) * nc + jp.context + 1
    ib = jp.b.astype(np.int64) * nc + jp.context + 1
    keep = jp.outcome <= 3
    users, items, scores = rp.ratings_from_pairs(jp.annotator[keep], ia[keep], ib[keep], jp.outcome[keep])
    texts: dict[int, str] = {}
    for k in range(len(jp)):
        texts.setdefault(int(ia[k]), jp.text_a[k] or "")
        texts.setdefault(int(ib[k]), jp.text_b[k] or "")
    codes = {k: n for n, k in enumerate(sorted(texts))}
    item_codes = np.array([codes[int(x)] for x in items])
    held_out = rp.split_per_user(users, test_share, seed=seed)
    test = held_out.copy()
    if limit is not None and limit < test.sum():  # score a seeded subset; the training side stays the same
        keep_test = np.random.default_rng(seed).choice(np.flatnonzero(test), size=limit, replace=False)
        test = np.isin(np.arange(len(test)), keep_test)
    enc = make_encoder(parse_encoder(encoder))
    with progress_bar(f"embedding {len(texts)} texts", len(texts), quiet=quiet) as advance:
        emb = np.asarray(enc.encode([texts[k] for k in sorted(texts)], progress=advance), dtype=np.float64)
    models: dict[str, Any] = {
        "bias": rp.BiasBaseline(),
        "svd": rp.SurpriseSVD(n_factors=factors, seed=seed),
        "embedding": rp.EmbeddingPredictor(emb),
    }
    u_tr, i_tr, r_tr = users[~held_out], item_codes[~held_out], scores[~held_out]
    u_te, i_te, r_te = users[test], item_codes[test], scores[test]
    preds, metrics = {}, {}
    with resumable(no_cache), ExitStack() as stack:
        llm = None
        if model:
            from prefkit.cli._chat import open_chat

            advance = stack.enter_context(progress_bar(f"asking {model}", int(test.sum()), quiet=quiet))
            chat = open_chat(stack, model, base_url=base_url, cache=cache, no_cache=no_cache, max_tokens=max_tokens,
                             seed=seed, progress=advance)  # fmt: skip
            llm = rp.LLMRatingPredictor(chat, [texts[k] for k in sorted(texts)], history=history, seed=seed)
            models["llm"] = llm
        with progress_bar("fitting the predictors", len(models), quiet=quiet) as advance:
            for name, m in models.items():
                preds[name] = m.fit(u_tr, i_tr, r_tr).predict(u_te, i_te)
                metrics[name] = vars(rp.evaluate(u_te, r_te, preds[name]))
                advance(1)
        if llm is not None:
            check_answered([llm.chat], no_cache)
    summary = {"n_users": int(len(np.unique(users))), "n_items": len(codes), "n_ratings": int(len(scores)),
               "n_test": int(test.sum()), "metrics": metrics}  # fmt: skip
    if llm is not None:
        summary.update({"model": model, "unparsed": llm.unparsed_})
    if out is not None:
        names = jp.annotator_names
        records = [
            {"user": names[int(u)] if names else int(u), "item": int(i), "rating": float(r),
             **{k: float(v[n]) for k, v in preds.items()}, **({"reply": llm.replies_[n]} if llm else {})}
            for n, (u, i, r) in enumerate(zip(u_te, i_te, r_te, strict=True))
        ]  # fmt: skip
        _write(out, records, summary)
    if fmt == "json":
        print_json(summary)
        return
    from rich.table import Table

    t = Table(
        title=f"{summary['n_test']} held-out scores of {summary['n_users']} users on {summary['n_items']} texts"
    )
    for col in ("predictor", "RMSE", "MAE", "Spearman", "pair accuracy"):
        t.add_column(col, justify="left" if col == "predictor" else "right")
    for name, mt in metrics.items():
        t.add_row(
            name,
            f"{mt['rmse']:.4f}",
            f"{mt['mae']:.4f}",
            f"{mt['spearman']:.3f}",
            f"{mt['pair_accuracy']:.3f}",
        )
    console.print(t)
    if llm is not None:
        console.print(
            f"{model}: {llm.unparsed_} of {summary['n_test']} answers had no score in [0, 1] (bias baseline)"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
