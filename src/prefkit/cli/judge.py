"""``prefkit judge``: run LLM judges on pairs, audit judges against people, rank with a judge, LC win rates."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import typer

from prefkit.cli._ray_maps import address_option, engine_option, workers_option
from prefkit.errors import InputError, ValidationError

judge_app = typer.Typer(
    help="LLM judges: run them on pairs, audit their biases, rank with them, length-controlled win rates.",
    no_args_is_help=True,
)

MODEL_HELP = (
    "local:smollm2 (packaged local model), scripted[:position=P,...], reward:DIR, or a model name on an "
    "OpenAI-compatible server (--base-url; key from OPENAI_API_KEY)."
)


def _cache(path: Path | None, off: bool, model: str) -> Any:
    """The on-disk reply cache (closed at exit), or None with --no-cache or for judges that make no calls."""
    if off or model == "scripted" or model.startswith(("scripted:", "reward:")):
        return None
    import atexit

    from prefkit.storage.judge_cache import JudgeCache, default_cache_path

    cache = JudgeCache(path or default_cache_path())
    atexit.register(cache.close)
    return cache


def _read(file: Path, texts: Path | None = None):
    from prefkit.data import io

    if not file.exists():
        raise InputError("no such file; check the path", path=file)
    return io.read(file, texts=texts)


@judge_app.command("run")
def run(
    file: Path = typer.Argument(
        ...,
        help="Pairs with texts: an arena log with prompt/response_a/response_b, "
        "or an llmfao comparison log (prompts.jsonl + results.jsonl beside it or --texts).",
    ),
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    base_url: str = typer.Option(
        None, "--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
    ),
    protocol: str = typer.Option("mt-bench-pair-v2", "--protocol", "-p", help="Prompt pack (see README)."),
    out: Path = typer.Option(
        None, "--out", "-o", help="Write the verdicts as an arena log (.jsonl/.csv/.parquet)."
    ),
    db: Path = typer.Option(None, "--db", help="Import the verdicts into this project store."),
    texts: Path = typer.Option(
        None, "--texts", help="llmfao directory holding prompts.jsonl and results.jsonl."
    ),
    limit: int = typer.Option(None, "--limit", "-n", help="Judge at most this many distinct pairs."),
    one_order: bool = typer.Option(False, "--one-order", help="Ask each pair once (default: both orders)."),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="Skip pairs with a missing or empty text (listed)."
    ),
    concurrency: int = typer.Option(4, "--concurrency", help="Calls in flight at once."),
    retries: int = typer.Option(3, "--retries", help="Retries of a failing call (backoff 0.5 s, doubling)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds per call."),
    max_tokens: int = typer.Option(None, "--max-tokens", help="Answer length cap (default: the pack's)."),
    cache: Path = typer.Option(None, "--cache", help="Reply cache (SQLite; default ~/.cache/prefkit)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the reply cache."),
    name: str = typer.Option(None, "--name", help="Annotator id of the verdicts (default: the model)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the scripted judge."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    rate: float = typer.Option(
        None, "--rate", help="At most this many calls a second in all (over every Ray worker with --engine ray)."
    ),
    engine: str = engine_option(),
    ray_address: str = address_option(),
    workers: int = workers_option(),
) -> None:
    """Judge the distinct pairs of FILE and write the verdicts (annotator kind "model").

    With --engine ray the calls run on Ray workers (--concurrency calls in flight in all, --rate a second over
    the whole cluster); the reply cache stays here, so a rerun after an interruption repeats no answered call.

    Example: prefkit judge run gpt4-crowd-comparisons.csv --model local:smollm2 --limit 5 --out verdicts.jsonl

    Example: prefkit judge run battles.jsonl --model gpt-4o-mini --out verdicts.jsonl --engine ray --rate 20
    """
    from prefkit.annotation.factory import JudgeOptions, open_judge
    from prefkit.annotation.run import judge_dataset, pair_tasks, verdict_table
    from prefkit.cli._common import err_console, progress_bar

    if out is None and db is None:
        raise ValidationError("give --out FILE and/or --db STORE for the verdicts")
    if limit is not None and limit < 1:
        raise ValidationError(f"--limit must be >= 1, got {limit}")
    if out is not None:
        from prefkit.data import io

        io.output_format(io.Dataset(), out, "arena")  # a bad suffix fails before the (long) run
    from prefkit.cli._ray_maps import connect, spread_calls

    ray = connect(engine, ray_address, workers)
    spread = spread_calls(ray, workers=workers, rate=rate, per_worker=max(1, concurrency))
    ds = _read(file, texts)
    opts = JudgeOptions(
        protocol=protocol, base_url=base_url, both_orders=not one_order, cache=_cache(cache, no_cache, model),
        concurrency=concurrency, retries=retries, timeout=timeout, max_tokens=max_tokens, seed=seed, name=name,
        spread=spread,
    )  # fmt: skip
    from prefkit.annotation.prompts import GRADING

    if protocol in GRADING:
        _grade(ds, model, opts, out, db, limit, file)
        return
    pairs = pair_tasks(ds, limit=limit, skip_bad=skip_bad)  # bad rows fail before any call
    n_tasks = len(pairs.tasks)
    if not n_tasks:
        raise ValidationError(f"{file}: no pair left to judge ({len(pairs.skipped)} skipped)")
    calls = n_tasks * (1 if one_order else 2)
    with progress_bar(f"judging {n_tasks} pairs", calls, quiet=quiet) as advance:
        with open_judge(model, opts, advance) as (judge, runner):
            result = judge_dataset(ds, judge, limit=limit, skip_bad=skip_bad)
    if result.decided == 0:
        raise ValidationError(
            f"no pair was decided ({len(result.unparsed)} unparsed, {len(result.failed)} failed); nothing written "
            "(the replies are cached: try another --protocol, or run again to retry the failures)"
        )
    if out is not None:
        from prefkit.data import _tabular

        fmt = _tabular.container_for_output(out)
        _tabular.write_rows(out, verdict_table(result), fmt)
    if db is not None:
        from prefkit.storage.store import ProjectStore

        with ProjectStore(db) as store:
            store.import_dataset(result.dataset, source=f"judge:{judge.name}:{file}", format="judge")
    stats = runner.stats if runner is not None else None
    parts = [f"{result.decided} verdicts from {judge.name} on {n_tasks} pairs"]
    if pairs.skipped:
        parts.append(f"{len(pairs.skipped)} pairs skipped (lines {_lines([ln for ln, _ in pairs.skipped])})")
    if result.flipped:
        parts.append(f"{result.flipped} flipped with the order (counted as ties)")
    if result.unparsed:
        parts.append(f"{len(result.unparsed)} unparsed (lines {_lines(result.unparsed)})")
    if result.failed:
        parts.append(f"{len(result.failed)} failed (lines {_lines(result.failed)}; run again to retry)")
    if stats is not None:
        parts.append(
            f"{stats.calls} calls, {stats.cached} cached, {stats.retries} retries, "
            f"{stats.prompt_tokens}+{stats.completion_tokens} tokens"
        )
    err_console.print("; ".join(parts))
    if stats is not None and stats.errors:
        err_console.print(f"first failure: {stats.errors[0]}")


def _grade(
    ds: Any, model: str, opts: Any, out: Path | None, db: Path | None, limit: int | None, file: Path
) -> None:
    """Single-answer grading: every (prompt, response) scored; ratings written as prefkit JSONL or stored."""
    from prefkit.annotation.factory import open_runner
    from prefkit.annotation.grading import LLMGrader, grade_dataset
    from prefkit.annotation.prompts import grade_pack
    from prefkit.cli._common import err_console

    pack = grade_pack(opts.protocol)
    if out is not None and not str(out).endswith((".jsonl", ".jsonl.gz")):
        raise ValidationError("grades are ratings: write them as prefkit JSONL (an --out ending in .jsonl)")
    with open_runner(model, opts) as runner:
        run = grade_dataset(ds, LLMGrader(runner, pack, name=opts.name or model), limit=limit)
    if len(run.dataset.ratings) == 0:
        raise ValidationError(
            f"no answer was graded ({len(run.unparsed)} unparsed, {len(run.failed)} failed)"
        )
    if out is not None:
        from prefkit.data import io

        io.write(run.dataset, out, format="prefkit")
    if db is not None:
        from prefkit.storage.store import ProjectStore

        with ProjectStore(db) as store:
            store.import_dataset(run.dataset, source=f"judge:{opts.name or model}:{file}", format="judge")
    s = runner.stats
    err_console.print(
        f"{len(run.dataset.ratings)} grades on [{pack.lo:g}, {pack.hi:g}]; {len(run.unparsed)} unparsed, "
        f"{len(run.failed)} failed; {s.calls} calls, {s.cached} cached, {s.prompt_tokens}+{s.completion_tokens} tokens"
    )


def _lines(lines: list[int]) -> str:
    head = ", ".join(str(x) for x in lines[:10])
    return head + (", ..." if len(lines) > 10 else "")


@judge_app.command("audit")
def audit(
    file: Path = typer.Argument(
        ..., help="Judge verdicts: an arena log (judge column) or a crowd/llmfao log."
    ),
    reference: Path = typer.Option(None, "--reference", "-r", help="Human judgments on the same pairs."),
    self_pattern: str = typer.Option(None, "--self", help="Regex of the judge's own model family, e.g. GPT."),
    min_ratio: float = typer.Option(1.5, "--min-ratio", help="Clear length gap: longer >= RATIO x shorter."),
    alpha: float = typer.Option(0.05, "--alpha", help="Test level of the flags."),
    name: str = typer.Option(None, "--name", help="Judge name for rows without a judge column."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
) -> None:
    """Audit judges: position, length and self-preference bias, agreement with people, swap consistency.

    Example: prefkit judge audit gpt4-crowd-comparisons.csv --reference crowd-comparisons.csv --self GPT
    """
    from prefkit.analysis.judge_audit import audit_judges
    from prefkit.annotation.run import read_orders
    from prefkit.cli._common import print_json

    if fmt not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {fmt!r}")
    if not 0 < alpha < 1:
        raise ValidationError(f"--alpha must be in (0, 1), got {alpha}")
    ds = _read(file)
    ref = _read(reference) if reference is not None else None
    audits = audit_judges(
        ds, ref, self_pattern=self_pattern, orders=read_orders(file, ds), min_ratio=min_ratio, alpha=alpha,
        default_name=name or file.stem,
    )  # fmt: skip
    if fmt == "json":
        print_json({"judges": [a.to_dict() for a in audits]})
        return
    _audit_table(audits, ref is not None)


def _pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.1f}%"


def _row(
    t: Any, check: str, value: str, lo: float | None, hi: float | None, ref: str, n: int, flag: bool
) -> None:
    interval = f"[{_pct(lo)}, {_pct(hi)}]" if lo is not None and n else ""
    t.add_row(check, value, interval, ref, str(n), "[red]yes[/red]" if flag else "no")


def _audit_table(audits: list, with_ref: bool) -> None:
    from rich.table import Table

    from prefkit.cli._common import console

    for a in audits:
        t = Table(title=f"judge {a.judge}: {a.n} verdicts, {_pct(a.ties)} ties")
        for col in ("check", "judge", "interval", "people", "n", "flagged"):
            t.add_column(col)
        row = partial(_row, t)

        p, ln = a.position, a.length
        rp = a.reference_position
        row("first shown wins", _pct(p.first_share), p.lower, p.upper, _pct(rp.first_share) if rp else "-", p.n,
            p.flagged)  # fmt: skip
        row("longer wins", _pct(ln.longer_share), ln.lower, ln.upper, _pct(ln.reference_longer_share), ln.n,
            ln.flagged)  # fmt: skip
        if a.self_preference is not None:
            sp = a.self_preference
            row("own family wins", _pct(sp.own_share), sp.lower, sp.upper, _pct(sp.reference_own_share), sp.n,
                sp.flagged)  # fmt: skip
        if a.agreement is not None:
            ag = a.agreement
            row("agreement (rate)", _pct(ag.rate), None, None, "", ag.n, False)
            t.add_row("agreement (kappa)", f"{ag.kappa:.3f}", f"[{ag.kappa_lower:.3f}, {ag.kappa_upper:.3f}]", "",
                      str(ag.n), "[red]yes[/red]" if ag.flagged else "no")  # fmt: skip
        if a.swap is not None:
            sw = a.swap
            row(f"swap consistent ({sw.flips} flips)", _pct(sw.consistency), sw.lower, sw.upper, "", sw.n,
                sw.flagged)  # fmt: skip
        console.print(t)
        for note in a.notes:
            console.print(f"note: {note}")


@judge_app.command("rank")
def rank(
    file: Path = typer.Argument(
        ..., help="Models' answers: any file with response texts (arena log, llmfao)."
    ),
    model: str = typer.Option(..., "--model", "-m", help=MODEL_HELP),
    budget: int = typer.Option(50, "--budget", help="Judge calls to spend."),
    base_url: str = typer.Option(
        None, "--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
    ),
    protocol: str = typer.Option("mt-bench-pair-v2", "--protocol", "-p", help="Prompt pack (see README)."),
    texts: Path = typer.Option(
        None, "--texts", help="llmfao directory holding prompts.jsonl and results.jsonl."
    ),
    one_order: bool = typer.Option(False, "--one-order", help="Ask each pair once (default: both orders)."),
    policy: str = typer.Option("infogain", "--policy", help="Matchmaking: infogain | ksort | random."),
    cache: Path = typer.Option(None, "--cache", help="Reply cache (SQLite; default ~/.cache/prefkit)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the matchmaking and of the prompt choice."),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Rank the models of FILE with a judge under a call budget (relative-confidence ranking).

    Example: prefkit judge rank crowd-comparisons.csv --model scripted:position=0.2 --budget 200
    """
    from dataclasses import asdict

    from prefkit.annotation.factory import JudgeOptions, open_judge
    from prefkit.annotation.rank import rank_models
    from prefkit.cli._common import console, print_json, progress_bar

    if budget < 1:
        raise ValidationError(f"--budget must be >= 1, got {budget}")
    if fmt not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {fmt!r}")
    ds = _read(file, texts)
    opts = JudgeOptions(
        protocol=protocol,
        base_url=base_url,
        both_orders=not one_order,
        cache=_cache(cache, False, model),
        seed=seed,
    )
    with progress_bar(f"ranking with {budget} judge calls", None, quiet=quiet) as advance:
        with open_judge(model, opts, advance) as (judge, _):
            board, cb = rank_models(ds, judge, budget=budget, seed=seed, policy=policy)
    if fmt == "json":
        print_json({"judge": judge.name, "calls": cb.calls, "rows": [asdict(r) for r in board.rows]})
        return
    from rich.table import Table

    t = Table(title=f"{judge.name}: {board.n_votes} votes ({cb.calls} judge calls)")
    for col in ("rank", "model", "score", "mu", "sigma", "games"):
        t.add_column(col)
    for r in board.rows:
        t.add_row(str(r.rank), r.item, f"{r.score:.2f}", f"{r.mu:.2f}", f"{r.sigma:.2f}", str(r.games))
    console.print(t)


@judge_app.command("lc")
def lc(
    file: Path = typer.Argument(..., help="Verdicts of models against one baseline, with response texts."),
    baseline: str = typer.Option(
        ..., "--baseline", "-b", help="The reference model every model was judged against."
    ),
    c: float = typer.Option(1.0, "--c", help="Inverse L2 penalty of the GLM (scikit-learn's C)."),
    texts: Path = typer.Option(
        None, "--texts", help="llmfao directory holding prompts.jsonl and results.jsonl."
    ),
    fmt: str = typer.Option("table", "--format", "-f", help="table | json"),
) -> None:
    """Length-controlled win rates against a baseline (AlpacaEval 2.0's GLM, fitted on FILE).

    Example: prefkit judge lc verdicts.jsonl --baseline gpt4_turbo --format json
    """
    from dataclasses import asdict

    from prefkit.analysis.length_control import lc_from_dataset
    from prefkit.cli._common import console, print_json

    if fmt not in ("table", "json"):
        raise ValidationError(f"--format must be table or json, got {fmt!r}")
    results = lc_from_dataset(_read(file, texts), baseline, c=c)
    if fmt == "json":
        print_json({"baseline": baseline, "models": [asdict(r) for r in results]})
        return
    from rich.table import Table

    t = Table(title=f"length-controlled win rate against {baseline}")
    for col in ("model", "n", "win rate", "LC win rate", "length coef"):
        t.add_column(col)
    for r in results:
        t.add_row(r.model, str(r.n), f"{r.win_rate:.1f}", f"{r.lc_win_rate:.1f}", f"{r.length_coef:+.3f}")
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add the ``judge`` command group to the main app."""
    app.add_typer(judge_app, name="judge")
