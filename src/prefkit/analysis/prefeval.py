"""PrefEval harness: does a model follow a preference the user stated earlier in the conversation?

After Zhao et al. 2025 (PrefEval). The data (CC BY-NC: read from the directory the user gives, never shipped)
has 20 topics; each item has a ``preference``, a later ``question`` whose good answer depends on it, and, for the
multiple-choice task, four ``classification_task_options`` of which the first is the one that respects the
preference. Forms:

* ``explicit``: the preference is the first user message (answered "Understood.");
* ``implicit-choice``: the preference shows in an earlier choice among options (the item's conversation);
* ``implicit-persona``: the preference is mentioned in passing within a persona-driven conversation.

Then ``turns`` filler exchanges (prefkit's own neutral small talk, :data:`FILLER`) separate the preference from
the question: the *distance*. Tasks:

* ``mcq``: the options are shuffled (seeded per item) and the model answers with a letter; correct when it picks
  the preference-respecting option;
* ``generation``: the model answers freely and a judge (a :class:`Judge`) applies PrefEval's four checks
  (templates from the data's ``error_type/``): acknowledgement, violation, hallucination of the preference,
  helpfulness. The answer *follows* the preference when it acknowledges it, does not violate it, restates it
  faithfully and is helpful; the error type otherwise (``unhelpful``, ``hallucination``, ``inconsistency``,
  ``unaware_violation``, ``unaware``).

Accuracy is reported by topic and by distance, with Wilson intervals. The model under test (a
:class:`ChatModel`) and the judge are protocols; the harness is deterministic under a seed when they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from prefkit.analysis.principles import wilson_interval
from prefkit.errors import InputError, ValidationError

FORMS = ("explicit", "implicit-choice", "implicit-persona")
TASKS = ("mcq", "generation")
CHECKS = ("acknowledge", "violation", "hallucination", "helpful")
LETTERS = "ABCD"

#: Neutral filler exchanges (written for prefkit) that pad the conversation between preference and question.
FILLER: tuple[tuple[str, str], ...] = (
    ("How many days are there in a leap year?", "A leap year has 366 days."),
    (
        "What is the boiling point of water at sea level in Celsius?",
        "Water boils at 100 degrees Celsius at sea level.",
    ),
    (
        "Can you name the largest planet in our solar system?",
        "Jupiter is the largest planet in our solar system.",
    ),
    ("What does CPU stand for?", "CPU stands for central processing unit."),
    (
        "How do I convert kilometres to miles?",
        "Multiply the distance in kilometres by about 0.621 to get miles.",
    ),
    ("Who wrote the play Hamlet?", "Hamlet was written by William Shakespeare."),
    ("What is the chemical symbol for gold?", "The chemical symbol for gold is Au."),
    ("How many continents are there?", "There are seven continents."),
    ("What is the square root of 144?", "The square root of 144 is 12."),
    ("Which ocean is the largest?", "The Pacific Ocean is the largest."),
)


@runtime_checkable
class ChatModel(Protocol):
    """The model under test: answers conversations (lists of ``(role, content)``) with one text each."""

    def chat(self, conversations: Sequence[Sequence[tuple[str, str]]]) -> Sequence[str]: ...


@runtime_checkable
class Judge(Protocol):
    """Answers rendered check prompts with one completion each (an LLM judge)."""

    def complete(self, prompts: Sequence[str]) -> Sequence[str]: ...


@dataclass(frozen=True)
class PrefItem:
    topic: str
    index: int
    preference: str
    question: str
    options: tuple[str, ...] = ()  # MCQ options, the preference-respecting one first
    history: tuple[tuple[str, str], ...] = ()  # implicit forms: the turns that reveal the preference


def topics(root: str | Path) -> list[str]:
    """The topics present in a PrefEval data directory (from ``explicit_preference/*.json``)."""
    d = Path(root) / "explicit_preference"
    if not d.is_dir():
        raise InputError(
            f"{root}: not a PrefEval data directory (no explicit_preference/); give the benchmark_dataset folder"
        )
    return sorted(p.stem for p in d.glob("*.json"))


def _load(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read PrefEval JSON: {exc}") from None
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of items")
    return data


def _history(form: str, conv: Any, path: Path, k: int) -> tuple[tuple[str, str], ...]:
    if form == "implicit-choice":
        try:
            return (
                ("user", str(conv["query"])),
                ("assistant", str(conv["assistant_options"])),
                ("user", str(conv["user_selection"])),
                ("assistant", str(conv["assistant_acknowledgment"])),
            )
        except (KeyError, TypeError):
            raise InputError(f"{path}: item {k}: conversation needs query, assistant_options, user_selection, "
                             "assistant_acknowledgment") from None  # fmt: skip
    out: list[tuple[str, str]] = []
    try:
        for key in sorted(conv, key=int):
            out += [("user", str(conv[key]["user"])), ("assistant", str(conv[key]["assistant"]))]
    except (KeyError, TypeError, ValueError):
        raise InputError(
            f"{path}: item {k}: conversation must map turn numbers to user/assistant texts"
        ) from None
    return tuple(out)


def read_prefeval(
    root: str | Path, *, form: str = "explicit", task: str = "mcq", topic_names: Sequence[str] | None = None
) -> list[PrefItem]:
    """Items of ``topic_names`` (default all). MCQ options come from ``mcq_options/``."""
    if form not in FORMS:
        raise ValidationError(f"form must be one of {', '.join(FORMS)}, got {form!r}")
    if task not in TASKS:
        raise ValidationError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    root = Path(root)
    known = topics(root)
    chosen = list(topic_names) if topic_names else known
    unknown = [t for t in chosen if t not in known]
    if unknown:
        raise InputError(
            f"{root}: no PrefEval topic {', '.join(map(repr, unknown))}; topics: {', '.join(known)}"
        )
    sub = {"explicit": "explicit_preference", "implicit-choice": "implicit_preference/choice-based",
           "implicit-persona": "implicit_preference/persona-driven"}[form]  # fmt: skip
    items = []
    for t in chosen:
        path = root / sub / f"{t}.json"
        rows = _load(path)
        mcq = _load(root / "mcq_options" / f"{t}.json") if task == "mcq" else []
        for k, r in enumerate(rows):
            if (
                not isinstance(r, dict)
                or not isinstance(r.get("preference"), str)
                or not isinstance(r.get("question"), str)
            ):
                raise InputError(f"{path}: item {k}: needs string fields preference and question")
            opts: tuple[str, ...] = ()
            if task == "mcq":
                if k >= len(mcq) or mcq[k].get("question") != r["question"]:
                    raise InputError(
                        f"{root / 'mcq_options' / (t + '.json')}: item {k} does not match {path} item {k}"
                    )
                opts = tuple(str(o) for o in mcq[k].get("classification_task_options") or ())
                if len(opts) != 4:
                    raise InputError(f"{root / 'mcq_options' / (t + '.json')}: item {k}: needs 4 options")
            hist = _history(form, r.get("conversation"), path, k) if form != "explicit" else ()
            items.append(PrefItem(t, k, r["preference"], r["question"], opts, hist))
    return items


def option_order(item: PrefItem, seed: int) -> list[int]:
    """The shuffled order of the item's options (seeded by the seed, the topic and the index)."""
    key = sum(ord(c) for c in item.topic) * 1009 + item.index
    return [int(i) for i in np.random.default_rng([seed, key]).permutation(len(item.options))]


def conversation(item: PrefItem, turns: int, *, task: str, seed: int = 0) -> list[tuple[str, str]]:
    """The conversation sent to the model: the preference (stated or implied), ``turns`` filler exchanges, and
    the question (with the shuffled options for the MCQ task)."""
    if turns < 0:
        raise ValidationError(f"turns must be >= 0, got {turns}")
    msgs = list(item.history) if item.history else [("user", item.preference), ("assistant", "Understood.")]
    for k in range(turns):
        q, a = FILLER[k % len(FILLER)]
        msgs += [("user", q), ("assistant", a)]
    if task == "mcq":
        order = option_order(item, seed)
        listed = "\n".join(f"{LETTERS[j]}. {item.options[i]}" for j, i in enumerate(order))
        msgs.append(("user", f"{item.question}\n{listed}\nAnswer with the letter of one option only."))
    else:
        msgs.append(("user", item.question))
    return msgs


_LETTER = re.compile(r"\b([ABCD])\b")


def score_mcq(item: PrefItem, reply: str, seed: int = 0) -> bool | None:
    """True when the reply's letter is the preference-respecting option; None when it names no single letter."""
    found = {m.group(1) for m in _LETTER.finditer(reply.strip().split("\n")[0])}
    if len(found) != 1:
        return None
    return option_order(item, seed)[LETTERS.index(found.pop())] == 0


def load_templates(root: str | Path) -> dict[str, str]:
    """PrefEval's four check prompts from ``error_type/check_*.txt``."""
    out = {}
    for c in CHECKS:
        p = Path(root) / "error_type" / f"check_{c}.txt"
        try:
            out[c] = p.read_text(encoding="utf-8")
        except OSError:
            raise InputError(
                f"{p}: missing; the generation task needs PrefEval's error_type templates"
            ) from None
    return out


_ANSWER = re.compile(r"<answer>\s*(yes|no)\s*</answer>", re.I)
_PREF = re.compile(r"<preference>(.*?)</preference>", re.I | re.S)


def parse_yes_no(reply: str) -> bool | None:
    m = _ANSWER.search(reply)
    return None if m is None else m.group(1).lower() == "yes"


@dataclass(frozen=True)
class GenerationCheck:
    acknowledge: bool | None
    violation: bool | None
    hallucination: bool | None
    helpful: bool | None

    @property
    def error(self) -> str:
        if self.helpful is False:
            return "unhelpful"
        if self.acknowledge:
            if self.hallucination:
                return "hallucination"
            return "inconsistency" if self.violation else "none"
        return "unaware_violation" if self.violation else "unaware"

    @property
    def follows(self) -> bool:
        return self.error == "none"


def check_generations(
    judge: Judge, templates: dict[str, str], items: Sequence[PrefItem], replies: Sequence[str]
) -> list[GenerationCheck]:
    """PrefEval's checks: acknowledgement, violation and helpfulness for every reply; hallucination (restatement vs
    the preference) only where the reply acknowledges one."""

    def fill(name: str, it: PrefItem, reply: str, restated: str = "") -> str:
        return (templates[name].replace("{preference}", it.preference).replace("{question}", it.question)
                .replace("{end_generation}", reply).replace("{assistant_restatement}", restated))  # fmt: skip

    first = [
        fill(c, it, r)
        for it, r in zip(items, replies, strict=True)
        for c in ("acknowledge", "violation", "helpful")
    ]
    ans = list(judge.complete(first))
    ack_replies = ans[0::3]
    ack = [parse_yes_no(x) for x in ack_replies]
    restated = [(m.group(1).strip() if (m := _PREF.search(x)) else "") for x in ack_replies]
    need = [i for i, a in enumerate(ack) if a]
    hall_ans = (
        list(judge.complete([fill("hallucination", items[i], replies[i], restated[i]) for i in need]))
        if need
        else []
    )
    hall: list[bool | None] = [None] * len(items)
    for i, x in zip(need, hall_ans, strict=True):
        hall[i] = parse_yes_no(x)
    return [
        GenerationCheck(ack[i], parse_yes_no(ans[3 * i + 1]), hall[i], parse_yes_no(ans[3 * i + 2]))
        for i in range(len(items))
    ]


@dataclass(frozen=True)
class Cell:
    key: str
    correct: int
    n: int
    accuracy: float
    lower: float
    upper: float


def _cells(keys: Sequence[str], ok: Sequence[bool]) -> list[Cell]:
    out = []
    for k in dict.fromkeys(keys):
        idx = [i for i, x in enumerate(keys) if x == k]
        c = sum(bool(ok[i]) for i in idx)
        acc = c / len(idx)
        lo, hi = wilson_interval(acc, len(idx))
        out.append(Cell(k, c, len(idx), acc, lo, hi))
    return out


def summarize(
    items: Sequence[PrefItem], distances: Sequence[int], correct: Sequence[bool | None]
) -> dict[str, Any]:
    """Accuracy overall, by topic and by distance (an unparsable answer counts as wrong), Wilson 95% intervals."""
    if not items:
        raise ValidationError("no answers to summarise")
    ok = [bool(c) for c in correct]
    overall = _cells(["all"] * len(ok), ok)[0]
    return {
        "overall": vars(overall),
        "unparsed": sum(c is None for c in correct),
        "by_topic": [vars(c) for c in _cells([it.topic for it in items], ok)],
        "by_distance": [
            vars(c) for c in sorted(_cells([str(d) for d in distances], ok), key=lambda c: int(c.key))
        ],
    }


def run_prefeval(
    model: ChatModel,
    items: Sequence[PrefItem],
    *,
    task: str,
    turns: Sequence[int] = (0,),
    judge: Judge | None = None,
    templates: dict[str, str] | None = None,
    seed: int = 0,
    progress: Callable[[int], Any] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Ask every item at every distance; return the raw records and the summary."""
    if task == "generation" and (judge is None or templates is None):
        raise ValidationError("the generation task needs a judge and PrefEval's error_type templates")
    if not items:
        raise ValidationError("no PrefEval items to run")
    cases = [(it, t) for t in turns for it in items]
    replies = list(model.chat([conversation(it, t, task=task, seed=seed) for it, t in cases]))
    if progress is not None:
        progress(len(cases))
    records: list[dict[str, Any]] = []
    correct: list[bool | None]
    if task == "mcq":
        correct = [score_mcq(it, r, seed) for (it, _), r in zip(cases, replies, strict=True)]
        checks: list[GenerationCheck | None] = [None] * len(cases)
    else:
        assert judge is not None and templates is not None
        gc = check_generations(judge, templates, [it for it, _ in cases], replies)
        checks = list(gc)
        correct = [c.follows for c in gc]
    for (it, t), r, c, chk in zip(cases, replies, correct, checks, strict=True):
        rec: dict[str, Any] = {"topic": it.topic, "index": it.index, "distance": t, "reply": r, "correct": c}
        if chk is not None:
            rec["error"] = chk.error
            rec["checks"] = {k: getattr(chk, k) for k in CHECKS}
        records.append(rec)
    summary = summarize([it for it, _ in cases], [t for _, t in cases], correct)
    summary["task"] = task
    if task == "generation":
        errs = [r["error"] for r in records]
        summary["errors"] = {e: errs.count(e) for e in sorted(set(errs))}
    return records, summary
