"""--head finetune vs TRL's RewardTrainer on the same MiniLM encoder, hh-rlhf harmless-base-test.

    .venv/bin/python benchmarks/bench_finetune.py [--data ../shared/data] [--folds 5] [--run-folds 0]
        [--train-pairs 0] [--epochs 1] [--max-length 256] [--threads 2] [--no-trl]

Prompt and response are encoded together (prompt tail + final assistant turn, ``--text prompt+response``).
The 5 folds are those of ``prefkit reward cv`` (pairs sharing a prompt share a fold); ``--run-folds 0,1`` runs a
subset of them (fine-tuning on a 2-core CPU takes minutes per fold). In each run fold, the training pairs
(``--train-pairs N``: a random N of them, 0 = all) are split 80/20: every method trains on the 80% and
fits its temperature on the 20%, and all are scored on the whole held-out fold:

* linear BT probe on the frozen prompt+response embeddings (prefkit ``bt``), on the same 80%;
* prefkit ``finetune``: that probe, then LoRA (rank 8 on query/value) + the head, BT loss, Adam;
* TRL ``RewardTrainer`` (full fine-tuning of ``AutoModelForSequenceClassification`` from the same MiniLM
  directory, its default loss ``-logsigmoid(r_c - r_r)``), same texts, epochs, batch size and max length.

Prints accuracy (strict), ECE and NLL after temperature scaling, and the training time of each fold.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)) + " |")


def trl_fit(train, args):  # type: ignore[no-untyped-def]
    """TRL's RewardTrainer on the texts of ``train``; returns a scorer of texts."""
    import torch
    from datasets import Dataset as HFDataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging
    from trl import RewardConfig, RewardTrainer

    from prefkit.reward.encoders import default_model_path

    hf_logging.set_verbosity_error()
    path = default_model_path()
    tok = AutoTokenizer.from_pretrained(path)
    if tok.eos_token is None:  # BERT tokenizers have none; TRL appends the EOS text to every row
        tok.eos_token = tok.sep_token
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)

    def cut(texts):  # type: ignore[no-untyped-def]
        # TRL drops rows longer than max_length; truncate them as prefkit's tokenizer call does instead
        ids = tok(list(texts), truncation=True, max_length=args.max_length - 3, add_special_tokens=False)
        return tok.batch_decode(ids["input_ids"])

    data = HFDataset.from_dict({"chosen": cut(train.text_c), "rejected": cut(train.text_r)})
    cfg = RewardConfig(
        output_dir=str(Path(args.work) / "trl"),
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=args.epochs,
        learning_rate=args.trl_lr,
        max_length=args.max_length,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
        center_rewards_coefficient=None,
    )
    trainer = RewardTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok)
    trainer.train()
    model.eval()

    def score(texts):  # type: ignore[no-untyped-def]
        out = np.zeros(len(texts))
        with torch.no_grad():
            for lo in range(0, len(texts), 64):
                enc = tok(
                    list(texts[lo : lo + 64]),
                    truncation=True,
                    max_length=args.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                out[lo : lo + 64] = model(**enc).logits[:, 0].double().numpy()
        return out

    return score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", default=os.environ.get("PREFKIT_SHARED_DATA", str(ROOT.parent / "shared" / "data"))
    )
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--run-folds", default="0,1,2,3,4", help="comma-separated fold numbers to run")
    ap.add_argument("--train-pairs", type=int, default=0, help="random training pairs per fold (0 = all)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--trl-lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-trl", action="store_true")
    ap.add_argument("--work", default="/tmp/prefkit-bench-finetune")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    torch.set_num_threads(args.threads)
    from prefkit.data.io import read
    from prefkit.reward.bt import BradleyTerryHead
    from prefkit.reward.calibration import calibrate_temperature
    from prefkit.reward.encoders import EncoderSpec
    from prefkit.reward.evaluate import evaluate_margins, kfold_indices
    from prefkit.reward.finetune import FinetuneHead
    from prefkit.reward.pipeline import Embedder, judge, pairs_in

    path = Path(args.data) / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    if not path.exists():
        print(f"(skipping: {path} not found)")
        return
    ds = read(path, strict=False)
    spec = EncoderSpec(text_mode="prompt+response", max_seq_length=args.max_length)
    emb = Embedder(spec, cache_dir=args.cache_dir)
    j = judge(ds, emb)
    units = j.units
    print(
        f"hh-rlhf harmless-base-test: {len(j.pair_rows)} pairs, {len(units)} prompts; embedded {emb.n_encoded} "
        f"new texts in {emb.seconds:.0f} s; torch threads {args.threads}; folds {args.run_folds} of {args.folds}; "
        f"train pairs {args.train_pairs or 'all'}, epochs {args.epochs}, max length {args.max_length}"
    )
    rows: list[list[str]] = []
    summary: dict[str, list[tuple[float, float, float, float]]] = {}
    for f in [int(x) for x in args.run_folds.split(",")]:
        test = kfold_indices(len(units), args.folds, seed=0)[f]
        tr_all = pairs_in(j, np.delete(units, test)).pairs
        te = pairs_in(j, units[test]).pairs
        rng = np.random.default_rng(f)
        idx = rng.permutation(len(tr_all))
        if args.train_pairs:
            idx = idx[: args.train_pairs]
        n_cal = max(len(idx) // 5, 20)
        cal, fit = tr_all.take(idx[:n_cal]), tr_all.take(idx[n_cal:])

        def record(
            name: str, mc: np.ndarray, mt: np.ndarray, secs: float, fold: int = f, n: int = len(fit)
        ) -> None:
            temp = calibrate_temperature(mc)
            ev = evaluate_margins(mt, temperature=temp.value, temperature_status=temp.status)
            rows.append(
                [
                    name,
                    str(fold),
                    str(n),
                    str(len(mt)),
                    f"{ev.accuracy:.4f}",
                    f"{ev.ece:.4f}",
                    f"{ev.nll:.4f}",
                    f"{temp.value:.3f}",
                    f"{secs:.1f}",
                ]
            )
            summary.setdefault(name, []).append((ev.accuracy, ev.ece, ev.nll, secs))
            print("  " + " | ".join(rows[-1]), flush=True)

        full = tr_all.take(
            idx[n_cal:] if not args.train_pairs else np.delete(np.arange(len(tr_all)), idx[:n_cal])
        )
        probe = BradleyTerryHead().fit(full)
        record(
            "prefkit bt (frozen, all train pairs)", probe.margins(cal), probe.margins(te), 0.0, n=len(full)
        )
        t0 = time.perf_counter()
        probe = BradleyTerryHead().fit(fit)
        record("prefkit bt (frozen probe)", probe.margins(cal), probe.margins(te), time.perf_counter() - t0)
        t0 = time.perf_counter()
        ft = FinetuneHead(
            rank=args.rank,
            epochs=args.epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            max_length=args.max_length,
        ).fit(fit)
        secs = time.perf_counter() - t0
        record("prefkit finetune (LoRA)", ft.margins(cal), ft.margins(te), secs)
        if not args.no_trl:
            t0 = time.perf_counter()
            score = trl_fit(fit, args)
            secs = time.perf_counter() - t0
            sc = score(np.concatenate([cal.text_c, cal.text_r]))
            st = score(np.concatenate([te.text_c, te.text_r]))
            record(
                "TRL RewardTrainer (full FT)",
                sc[: len(cal)] - sc[len(cal) :],
                st[: len(te)] - st[len(te) :],
                secs,
            )
    table(
        "per fold",
        ["method", "fold", "train", "test", "accuracy", "ECE", "NLL", "T", "train s"],
        rows,
    )
    table(
        "mean over the folds run",
        ["method", "folds", "accuracy", "ECE", "NLL", "train s / fold"],
        [
            [
                k,
                str(len(v)),
                *(f"{np.mean([x[i] for x in v]):.4f}" for i in range(3)),
                f"{np.mean([x[3] for x in v]):.1f}",
            ]
            for k, v in summary.items()
        ],
    )


if __name__ == "__main__":
    main()
