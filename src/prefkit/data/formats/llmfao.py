"""The llmfao layout: the texts behind the crowd (and GPT-4) comparison logs.

A directory holds ``prompts.jsonl`` (``{"id", "text", ...}``, one prompt per line) and ``results.jsonl``
(``{"prompt", "name", "result", ...}``: model ``name``'s answer to prompt ``prompt``) beside the comparison
logs (``crowd-comparisons.csv``, ``gpt4-crowd-comparisons.csv``: read by the ``crowd`` format, whose contexts
are the prompt ids and whose items are the model names). :class:`Texts` loads the two files and gives each
comparison chunk the prompt texts and the responses it needs; :func:`prefkit.data.io.read` does this by itself
when the two files sit beside the comparison log (or when ``texts=DIR`` is given).

Source: https://github.com/dustalov/llmfao (CC BY 4.0).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from prefkit.data import _source
from prefkit.data.model import Dataset, ResponseTable
from prefkit.errors import InputError

PROMPTS = "prompts.jsonl"
RESULTS = "results.jsonl"


def has_texts(directory: str | Path) -> bool:
    d = Path(directory)
    return (d / PROMPTS).is_file() and (d / RESULTS).is_file()


class Texts:
    """The prompts and the answers of an llmfao directory, keyed by prompt id (a string) and model name."""

    def __init__(self, directory: str | Path) -> None:
        d = Path(directory)
        if not has_texts(d):
            raise InputError(
                f"no {PROMPTS} and {RESULTS} here; give the llmfao directory that holds both", path=d
            )
        self.prompts: dict[str, str] = {}
        for line, rec in _source.json_records(d / PROMPTS):
            if "id" not in rec or not isinstance(rec.get("text"), str):
                raise InputError('each prompt needs "id" and a string "text"', path=d / PROMPTS, line=line)
            self.prompts[str(rec["id"])] = rec["text"]
        self.results: dict[tuple[str, str], str] = {}
        for line, rec in _source.json_records(d / RESULTS):
            if "prompt" not in rec or "name" not in rec or not isinstance(rec.get("result"), str):
                raise InputError(
                    'each result needs "prompt", "name" and a string "result"', path=d / RESULTS, line=line
                )
            key = (str(rec["prompt"]), str(rec["name"]))
            if key in self.results and self.results[key] != rec["result"]:
                raise InputError(
                    f"model {key[1]!r} has two different answers to prompt {key[0]}; keep one",
                    path=d / RESULTS,
                    line=line,
                )
            self.results[key] = rec["result"]
        self._done: set[tuple[int, int]] = set()

    def attach(self, chunk: Dataset) -> Dataset:
        """``chunk`` with its prompt texts set and the responses of its (context, item) pairs not given yet."""
        pw = chunk.pairwise
        ctx = np.concatenate([pw.context, pw.context])
        item = np.concatenate([pw.a, pw.b])
        pairs = {(c, i) for c, i in zip(ctx.tolist(), item.tolist(), strict=True) if c >= 0}
        cs, its, texts = [], [], []
        for c, i in sorted(pairs - self._done):
            cname, iname = chunk.contexts.name(c), chunk.items.name(i)
            if cname in self.prompts:
                chunk.context_text[cname] = self.prompts[cname]
            text = self.results.get((cname, iname))
            if text is not None:
                cs.append(c)
                its.append(i)
                texts.append(text)
                self._done.add((c, i))
        new = ResponseTable.build(np.asarray(cs, np.int32), np.asarray(its, np.int32), texts)
        return replace(chunk, responses=ResponseTable.concat([chunk.responses, new]))
