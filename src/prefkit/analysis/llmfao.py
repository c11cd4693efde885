"""llmfao-specific adapter: crowd votes and GPT-4 verdicts on the same pairs, with the responses' texts.

Reads a directory holding the llmfao files (dustalov/llmfao, CC BY 4.0): ``prompts.jsonl`` (id, text, type),
``results.jsonl`` (model, prompt, result), ``models.jsonl`` and ``crowd-comparisons.csv`` /
``gpt4-crowd-comparisons.csv`` (``model_x`` is shown left, as side ``a``). Crowd workers become human
annotators ``crowd:<worker>``; GPT-4 is one model annotator ``gpt-4``; the prompt ``type`` is the category.

This is a stop-gap until the shared llmfao reader in :mod:`prefkit.data` carries response texts.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from prefkit.analysis.pairs import JudgedPairs
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import InputError

FILES = {"crowd": "crowd-comparisons.csv", "gpt4": "gpt4-crowd-comparisons.csv"}
_WINNER = {"left": OUTCOME_A, "right": OUTCOME_B, "tie": OUTCOME_TIE}


def is_llmfao_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "results.jsonl").is_file() and (p / FILES["crowd"]).is_file()


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise InputError("missing llmfao file", path=path)
    out = []
    with path.open(encoding="utf-8") as fh:
        for k, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"not a JSON object ({exc.msg})", path=path, line=k) from None
    return out


def read_llmfao(directory: str | Path, judges: tuple[str, ...] = ("crowd", "gpt4")) -> JudgedPairs:
    """The judgments of ``judges`` (``crowd`` and/or ``gpt4``) with prompt and response texts."""
    d = Path(directory)
    prompts = {int(r["id"]): r for r in _jsonl(d / "prompts.jsonl")}
    texts = {
        (int(r["model"]), int(r["prompt"])): str(r.get("result") or "") for r in _jsonl(d / "results.jsonl")
    }
    item_of: dict[str, int] = {}
    ann_of: dict[str, int] = {}
    cats = sorted({str(p.get("type")) for p in prompts.values()})
    cat_of = {c: k for k, c in enumerate(cats)}
    cols: dict[str, list[Any]] = {k: [] for k in ("a", "b", "o", "ann", "ctx", "cat", "p", "ta", "tb")}
    for judge in judges:
        if judge not in FILES:
            raise InputError(f"unknown llmfao judge {judge!r}; choose crowd or gpt4")
        path = d / FILES[judge]
        if not path.is_file():
            raise InputError("missing llmfao comparison file", path=path)
        with path.open(encoding="utf-8", newline="") as fh:
            for line, row in enumerate(csv.DictReader(fh), 2):
                try:
                    x, y, pid = int(row["model_x"]), int(row["model_y"]), int(row["prompt"])
                    outcome = _WINNER[row["winner"]]
                except (KeyError, ValueError, TypeError) as exc:
                    raise InputError(
                        f"bad row ({exc}); expected model_x, model_y, prompt, winner", path=path, line=line
                    ) from None
                if (x, pid) not in texts or (y, pid) not in texts or pid not in prompts:
                    raise InputError(
                        f"no response text for model {x if (x, pid) not in texts else y} on prompt {pid} in "
                        "results.jsonl",
                        path=path,
                        line=line,
                    )
                name = f"crowd:{row.get('worker')}" if judge == "crowd" else "gpt-4"
                cols["a"].append(item_of.setdefault(str(row["left"]), len(item_of)))
                cols["b"].append(item_of.setdefault(str(row["right"]), len(item_of)))
                cols["o"].append(outcome)
                cols["ann"].append(ann_of.setdefault(name, len(ann_of)))
                cols["ctx"].append(pid)
                cols["cat"].append(cat_of[str(prompts[pid].get("type"))])
                cols["p"].append(str(prompts[pid]["text"]))
                cols["ta"].append(texts[(x, pid)])
                cols["tb"].append(texts[(y, pid)])
    names = tuple(ann_of)
    return JudgedPairs(
        a=np.asarray(cols["a"], dtype=np.int32),
        b=np.asarray(cols["b"], dtype=np.int32),
        outcome=np.asarray(cols["o"], dtype=np.int8),
        annotator=np.asarray(cols["ann"], dtype=np.int32),
        context=np.asarray(cols["ctx"], dtype=np.int32),
        item_names=tuple(item_of),
        annotator_names=names,
        annotator_kind={n: ("model" if n == "gpt-4" else "human") for n in names},
        prompt=cols["p"],
        text_a=cols["ta"],
        text_b=cols["tb"],
        category=np.asarray(cols["cat"], dtype=np.int32),
        category_names=tuple(cats),
        source=str(d),
    )
