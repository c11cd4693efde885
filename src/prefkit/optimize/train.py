"""A real DPO run through TRL's ``DPOTrainer`` on CPU, on rows prefkit built, with per-step metrics.

prefkit is not a trainer: this module configures TRL for a short, deterministic CPU run (no gradient
checkpointing, constant learning rate, no checkpoints written, nothing reported to a tracker) and turns TRL's
log lines into typed :class:`StepLog` records (loss, reward margin, reward accuracy). The model is any
:class:`~prefkit.optimize.local_model.LocalModel`; by default the offline SmolLM2-135M-Instruct.

On-policy recipe (one iteration; each piece is tested on its own):

1. sample K responses per prompt from the current policy (:func:`sample_responses`, or any ``Sampler``);
2. judge them against each other (any ``PairJudge``: an LLM judge, a reward model, a general preference model);
3. build large-margin pairs (:func:`prefkit.optimize.iteration.iteration_data`);
4. train on those pairs with the previous policy as the reference (:func:`run_dpo`), and repeat from 1.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefkit._optional import require
from prefkit.errors import DataProblemError, ValidationError
from prefkit.optimize.local_model import LocalModel, load_local_model
from prefkit.optimize.losses.pairwise import LOSS_TYPES
from prefkit.optimize.trl_format import validate_example


@dataclass(frozen=True)
class StepLog:
    """TRL's metrics at one optimisation step."""

    step: int
    loss: float
    reward_margin: float
    reward_accuracy: float
    chosen_reward: float
    rejected_reward: float


@dataclass(frozen=True)
class DpoConfig:
    """The few settings of a short DPO run (TRL's names where they exist)."""

    max_steps: int = 5
    per_device_train_batch_size: int = 2
    learning_rate: float = 2e-5
    beta: float = 0.1
    loss_type: str = "sigmoid"
    max_length: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_steps < 1:
            raise ValidationError(f"max_steps must be >= 1, got {self.max_steps}")
        if self.per_device_train_batch_size < 1:
            raise ValidationError("per_device_train_batch_size must be >= 1")
        if not self.learning_rate > 0 or not self.beta > 0:
            raise ValidationError("learning_rate and beta must be > 0")
        if self.loss_type not in LOSS_TYPES:
            raise ValidationError(
                f"unknown loss_type {self.loss_type!r}; choose one of {', '.join(LOSS_TYPES)}"
            )


@dataclass
class DpoRun:
    """The steps of a finished run, and the trained model."""

    steps: list[StepLog] = field(default_factory=list)
    model: Any = None


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """TRL preference rows (prompt, chosen, rejected) of a file prefkit built (.jsonl or .parquet), read by the
    one TRL reader (bad rows stop with FILE:LINE) and checked as TRL checks them."""
    from prefkit.data import io as data_io
    from prefkit.data.formats import trl

    p = Path(path)
    if not p.exists():
        raise ValidationError(f"{p} does not exist; build it with prefkit optimize build")
    ds = data_io.read(p)
    fmt = ds.meta.get("format")
    if fmt != "trl":
        raise DataProblemError(
            f"{p} holds {fmt} data; DPO trains on TRL preference rows (prompt, chosen, rejected): "
            "build them with prefkit optimize build"
        )
    rows, _, _ = trl.to_rows(ds)
    if not rows:
        raise DataProblemError(f"{p} has no rows")
    kind = validate_example(rows[0])
    if "preference" not in kind or "unpaired" in kind:
        raise DataProblemError(f"{p} holds {kind} rows; DPO needs preference rows (prompt, chosen, rejected)")
    return rows


def run_dpo(
    rows: Sequence[dict[str, Any]],
    config: DpoConfig | None = None,
    *,
    local: LocalModel | None = None,
    on_step: Callable[[StepLog], None] | None = None,
) -> DpoRun:
    """Train ``local.model`` (default: the offline SmolLM2) with TRL's DPOTrainer for ``max_steps`` steps."""
    cfg = config or DpoConfig()
    datasets = require("datasets", "optimize")
    transformers = require("transformers", "optimize")
    trl = require("trl", "optimize")
    keep = ("prompt", "chosen", "rejected")
    clean = [{k: r[k] for k in keep if k in r} for r in rows]
    if not clean:
        raise DataProblemError("no rows to train on")
    validate_example(clean[0])
    lm = local or load_local_model(seed=cfg.seed)
    run = DpoRun(model=lm.model)

    class _Collect(transformers.TrainerCallback):  # type: ignore[misc,name-defined]
        def on_log(
            self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any
        ) -> None:
            if not logs or "loss" not in logs:
                return
            log = StepLog(
                step=int(state.global_step),
                loss=float(logs["loss"]),
                reward_margin=float(logs.get("rewards/margins", float("nan"))),
                reward_accuracy=float(logs.get("rewards/accuracies", float("nan"))),
                chosen_reward=float(logs.get("rewards/chosen", float("nan"))),
                rejected_reward=float(logs.get("rewards/rejected", float("nan"))),
            )
            run.steps.append(log)
            if on_step is not None:
                on_step(log)

    with tempfile.TemporaryDirectory(prefix="prefkit-dpo-") as tmp:
        args = trl.DPOConfig(
            output_dir=tmp,
            max_steps=cfg.max_steps,
            per_device_train_batch_size=cfg.per_device_train_batch_size,
            learning_rate=cfg.learning_rate,
            beta=cfg.beta,
            loss_type=[cfg.loss_type],
            max_length=cfg.max_length,
            seed=cfg.seed,
            logging_steps=1,
            report_to=[],
            save_strategy="no",
            use_cpu=True,
            gradient_checkpointing=False,
            lr_scheduler_type="constant",
            warmup_steps=0,
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = trl.DPOTrainer(
            model=lm.model,
            ref_model=lm.ref_model,
            args=args,
            train_dataset=datasets.Dataset.from_list(clean),
            processing_class=lm.tokenizer,
            callbacks=[_Collect()],
        )
        trainer.remove_callback(transformers.PrinterCallback)  # steps are reported through on_step instead
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
            trainer.train()
    return run


def sample_responses(
    local: LocalModel,
    prompts: Sequence[str],
    k: int,
    *,
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    seed: int = 0,
) -> list[list[str]]:
    """``k`` sampled responses per prompt from the local model (chat template applied): a ``Sampler``."""
    torch = require("torch", "optimize")
    torch.manual_seed(seed)
    tok, model = local.tokenizer, local.model
    out: list[list[str]] = []
    model.eval()
    for prompt in prompts:
        text = tok.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        enc = tok(text, return_tensors="pt")
        with torch.no_grad():
            gen = model.generate(
                **enc,
                do_sample=True,
                temperature=temperature,
                max_new_tokens=max_new_tokens,
                num_return_sequences=k,
                pad_token_id=tok.pad_token_id,
            )
        n = enc["input_ids"].shape[1]
        out.append([tok.decode(g[n:], skip_special_tokens=True).strip() for g in gen])
    model.train()
    return out
