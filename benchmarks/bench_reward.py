"""Reward-model benchmark: every head on hh-rlhf (5-fold CV), pluralistic recovery, and speed.

    .venv/bin/python benchmarks/bench_reward.py [--data ../shared/data] [--cache-dir DIR] [--threads 2]

1. hh-rlhf harmless-base-test, MiniLM embeddings (cached): 5-fold CV accuracy (strict), ECE after temperature
   scaling (fitted on the training folds), NLL and training time per fold, for every head, side by side with
   scikit-learn's LogisticRegression on the embedding differences and the "shorter answer wins" rule.
2. Pluralistic: two annotator groups (70/30) that disagree on one attribute; PAL and MaxMin vs one BT head.
3. Speed: a linear Bradley-Terry head on 100,000 pairs of 384-d embeddings (vs scikit-learn), and the
   embedding time of a second run on the same file (all cache hits).
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


def sklearn_fit(C: float = 1.0, l2: float | None = None):
    """scikit-learn's LogisticRegression on the differences (both orientations, no intercept).

    With ``l2`` the penalty matches prefkit's ``mean loss + l2 ||w||^2``: C = 1 / (4 n l2).
    """
    from sklearn.linear_model import LogisticRegression

    def fit(tr):
        d = tr.xc - tr.xr
        X = np.concatenate([d, -d])
        y = np.r_[np.ones(len(d)), np.zeros(len(d))]
        c = C if l2 is None else 1.0 / (4 * len(d) * l2)
        m = LogisticRegression(C=c, fit_intercept=False, max_iter=2000).fit(X, y)
        return lambda te: (te.xc - te.xr) @ m.coef_[0]

    return fit


def hh_section(data: Path, cache_dir: str | None) -> None:
    from prefkit.data.io import read
    from prefkit.reward.encoders import EncoderSpec
    from prefkit.reward.evaluate import cross_validate
    from prefkit.reward.heads import HEAD_NAMES
    from prefkit.reward.pipeline import Embedder, fit_head, pair_features

    path = data / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    if not path.exists():
        print(f"\n(skipping hh-rlhf: {path} not found)")
        return
    ds = read(path, strict=False)
    emb = Embedder(EncoderSpec(), cache_dir=cache_dir)
    t0 = time.perf_counter()
    prep = pair_features(ds, emb, need_ctx=True)
    first = time.perf_counter() - t0
    emb2 = Embedder(EncoderSpec(), cache_dir=cache_dir)
    t0 = time.perf_counter()
    pair_features(ds, emb2, need_ctx=True)
    second = time.perf_counter() - t0
    pairs = prep.pairs
    ctx = prep.unit  # pairs sharing a prompt share a fold
    print(
        f"hh-rlhf: {len(pairs)} pairs ({len(ds.meta.get('skipped', []))} bad rows skipped); embedding pass: "
        f"{emb.n_encoded} texts encoded in {first:.1f} s; second run: {emb2.n_encoded} encoded, {second:.2f} s "
        "(cache lookups + reading)"
    )
    rows = []
    for name in HEAD_NAMES:
        if name in ("pal", "maxmin"):
            rows.append([name, "n/a (needs annotators; see the pluralistic table)", "", "", ""])
            continue
        if name in ("finetune", "conditioned", "attributes"):
            why = "fine-tunes the encoder; see bench_finetune.py" if name == "finetune" else "needs conditions"
            rows.append([name, f"n/a ({why})", "", "", ""])
            continue
        res = cross_validate(lambda tr, n=name: fit_head(n, tr).margins, pairs, 5, groups=ctx)
        rows.append(
            [
                name,
                f"{res.accuracy:.4f} +- {res.accuracy_std:.4f}",
                f"{res.ece:.4f}",
                f"{res.nll:.4f}",
                f"{res.train_seconds:.2f}",
            ]
        )
    try:
        for label, fit in [
            ("C=1, its default", sklearn_fit()),
            ("C matched to l2=0.01", sklearn_fit(l2=1e-2)),
        ]:
            res = cross_validate(fit, pairs, 5, groups=ctx)
            rows.append(
                [
                    f"peer: sklearn LogisticRegression ({label})",
                    f"{res.accuracy:.4f} +- {res.accuracy_std:.4f}",
                    f"{res.ece:.4f}",
                    f"{res.nll:.4f}",
                    f"{res.train_seconds:.2f}",
                ]
            )
    except ImportError:
        rows.append(["peer: sklearn LogisticRegression", "not installed", "", "", ""])
    shorter = float((pairs.len_c < pairs.len_r).mean())
    rows.append(["rule: shorter answer wins", f"{shorter:.4f}", "", "", "0"])
    table(
        "hh-rlhf harmless-base-test, MiniLM embeddings of the final response, 5-fold CV",
        ["head", "accuracy", "ECE", "NLL", "train s/fold"],
        rows,
    )


def pluralistic_section() -> None:
    from prefkit.reward.bt import BradleyTerryHead
    from prefkit.reward.evaluate import group_accuracy
    from prefkit.reward.pairs import PairFeatures
    from prefkit.reward.pluralistic import MaxMinHead, PALHead

    def two_groups(seed: int, d: int = 16, n_annot: int = 60, per: int = 50):
        rng = np.random.default_rng(seed)
        group = (np.arange(n_annot) >= int(0.7 * n_annot)).astype(int)
        W = np.zeros((2, d))
        W[:, 0], W[0, 1], W[1, 1] = 2.0, 3.0, -3.0
        ann = np.repeat(np.arange(n_annot), per)
        x1, x2 = rng.standard_normal((len(ann), d)), rng.standard_normal((len(ann), d))
        first = rng.random(len(ann)) < 1 / (1 + np.exp(-((x1 - x2) * W[group[ann]]).sum(1)))
        xc, xr = np.where(first[:, None], x1, x2), np.where(first[:, None], x2, x1)
        return PairFeatures(xc, xr, annotator=ann, annotator_names=[str(i) for i in range(n_annot)]), group, W

    train, group, W = two_groups(0)
    test, _, _ = two_groups(1)
    gt = group[test.annotator]
    rows = []
    for label, head in [
        ("single BT", BradleyTerryHead()),
        ("PAL (K=2)", PALHead()),
        ("MaxMin EM (K=2)", MaxMinHead()),
    ]:
        t0 = time.perf_counter()
        head.fit(train)
        secs = time.perf_counter() - t0
        ga = group_accuracy(head.margins(test), gt, ["majority", "minority"])
        assigned, new = "", ""
        if hasattr(head, "assignment_"):
            a = float((head.assignment_ == group).mean())
            assigned = f"{max(a, 1 - a):.3f}"
            comp = np.bincount(head.assignment_[group == 1]).argmax()
            rng = np.random.default_rng(5)
            hits = 0
            for k in range(20):
                x1, x2 = rng.standard_normal((20, W.shape[1])), rng.standard_normal((20, W.shape[1]))
                first = ((x1 - x2) @ W[1]) > 0
                code = head.add_annotator(
                    f"new{k}",
                    PairFeatures(np.where(first[:, None], x1, x2), np.where(first[:, None], x2, x1)),
                )
                hits += int(head.assignment_[code] == comp)
            new = f"{hits}/20"
        rows.append(
            [
                label,
                f"{ga.per_group['majority']:.3f}",
                f"{ga.per_group['minority']:.3f}",
                f"{ga.worst:.3f}",
                assigned,
                new,
                f"{secs:.2f}",
            ]
        )
    table(
        "Pluralistic: 60 annotators (70% / 30%) disagreeing on one attribute, 16-d embeddings, 3,000 pairs",
        [
            "model",
            "acc majority",
            "acc minority",
            "worst group",
            "annotators assigned right",
            "new minority annotators from 20 pairs",
            "train s",
        ],
        rows,
    )


def speed_section() -> None:
    from prefkit.reward.bt import BradleyTerryHead
    from prefkit.reward.pairs import PairFeatures

    rng = np.random.default_rng(0)
    n, d = 100_000, 384
    w = rng.standard_normal(d).astype(np.float32)
    x1 = rng.standard_normal((n, d), dtype=np.float32)
    x2 = rng.standard_normal((n, d), dtype=np.float32)
    first = rng.random(n) < 1 / (1 + np.exp(-((x1 - x2) @ w) / 8))
    pairs = PairFeatures(np.where(first[:, None], x1, x2), np.where(first[:, None], x2, x1))
    del x1, x2
    rows = []
    t0 = time.perf_counter()
    head = BradleyTerryHead().fit(pairs)
    rows.append(
        [
            "prefkit BradleyTerryHead (linear, L-BFGS)",
            f"{time.perf_counter() - t0:.2f}",
            f"{float((head.margins(pairs) > 0).mean()):.4f}",
        ]
    )
    try:
        t0 = time.perf_counter()
        fit = sklearn_fit(l2=1e-2)  # the same penalty as prefkit's default
        margins_of = fit(pairs)
        rows.append(
            [
                "peer: sklearn LogisticRegression (lbfgs)",
                f"{time.perf_counter() - t0:.2f}",
                f"{float((margins_of(pairs) > 0).mean()):.4f}",
            ]
        )
    except ImportError:
        rows.append(["peer: sklearn LogisticRegression", "not installed", ""])
    table(
        f"Speed: Bradley-Terry head on {n:,} cached pairs of {d}-d embeddings "
        f"({os.environ.get('BENCH_THREADS', '2')} threads)",
        ["fit", "seconds", "train accuracy"],
        rows,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("PREFKIT_SHARED_DATA", ROOT.parent / "shared" / "data")),
    )
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["hh", "pluralistic", "speed"], default=None)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["BENCH_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, {args.threads} threads, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if args.only in (None, "hh"):
        hh_section(args.data, args.cache_dir)
    if args.only in (None, "pluralistic"):
        pluralistic_section()
    if args.only in (None, "speed"):
        speed_section()


if __name__ == "__main__":
    main()
