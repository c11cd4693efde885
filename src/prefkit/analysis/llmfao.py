"""llmfao directories: the crowd's votes and GPT-4's verdicts on the same pairs, as one set of judged pairs.

A directory of dustalov/llmfao (CC BY 4.0) holds ``crowd-comparisons.csv`` and ``gpt4-crowd-comparisons.csv``
(the left model shown as side ``a``) beside ``prompts.jsonl`` and ``results.jsonl``. Each log is read by the one
crowd reader (:func:`prefkit.data.io.read`, which attaches the prompt and response texts from the directory);
this module only joins the two logs: crowd workers become human annotators ``crowd:<worker>``, GPT-4 one model
annotator ``gpt-4``, and the prompt ``type`` of ``prompts.jsonl`` is the category.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prefkit.analysis.pairs import JudgedPairs
from prefkit.data import _source, io
from prefkit.data.formats.llmfao import PROMPTS, RESULTS
from prefkit.errors import InputError

FILES = {"crowd": "crowd-comparisons.csv", "gpt4": "gpt4-crowd-comparisons.csv"}
GPT4 = "gpt-4"


def is_llmfao_dir(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / RESULTS).is_file() and (p / FILES["crowd"]).is_file()


def _prompt_types(d: Path) -> dict[str, str]:
    return {str(rec.get("id")): str(rec.get("type")) for _, rec in _source.json_records(d / PROMPTS)}


def read_llmfao(directory: str | Path, judges: tuple[str, ...] = ("crowd", "gpt4")) -> JudgedPairs:
    """The judgments of ``judges`` (``crowd`` and/or ``gpt4``) with prompt and response texts."""
    d = Path(directory)
    for judge in judges:
        if judge not in FILES:
            raise InputError(f"unknown llmfao judge {judge!r}; choose crowd or gpt4")
        if not (d / FILES[judge]).is_file():
            raise InputError("missing llmfao comparison file", path=d / FILES[judge])
    types = _prompt_types(d)
    cats = sorted(set(types.values()))
    item_of: dict[str, int] = {}
    ann_of: dict[str, int] = {}
    a: list[int] = []
    b: list[int] = []
    ann: list[int] = []
    ctx: list[str] = []
    outcome: list[np.ndarray] = []
    prompt: list[str | None] = []
    text_a: list[str | None] = []
    text_b: list[str | None] = []
    for judge in judges:
        ds = io.read(d / FILES[judge], "crowd", texts=d)
        part = JudgedPairs.from_dataset(ds)
        for k in range(len(part)):
            a.append(item_of.setdefault(part.item_names[part.a[k]], len(item_of)))
            b.append(item_of.setdefault(part.item_names[part.b[k]], len(item_of)))
            name = f"crowd:{part.annotator_names[part.annotator[k]]}" if judge == "crowd" else GPT4
            ann.append(ann_of.setdefault(name, len(ann_of)))
        ctx += [ds.contexts.name(c) for c in part.context.tolist()]
        outcome.append(part.outcome)
        prompt += list(part.prompt or [None] * len(part))
        text_a += list(part.text_a or [None] * len(part))
        text_b += list(part.text_b or [None] * len(part))
    names = tuple(ann_of)
    return JudgedPairs(
        a=np.asarray(a, dtype=np.int32),
        b=np.asarray(b, dtype=np.int32),
        outcome=np.concatenate(outcome).astype(np.int8),
        annotator=np.asarray(ann, dtype=np.int32),
        context=np.asarray([int(c) for c in ctx], dtype=np.int32),
        item_names=tuple(item_of),
        annotator_names=names,
        annotator_kind={n: ("model" if n == GPT4 else "human") for n in names},
        prompt=prompt,
        text_a=text_a,
        text_b=text_b,
        category=np.asarray([cats.index(types[c]) for c in ctx], dtype=np.int32),
        category_names=tuple(cats),
        source=str(d),
    )
