"""Multi-criteria rubrics over K responses (CodeUltraFeedback style) and constitution judges.

* :class:`RubricJudge`: one call shows K responses and a list of criteria and asks for a JSON object
  ``{"scores": [{"response": k, "criterion": name, "score": s, "rationale": "..."}]}``; the parser accepts it
  only when every (response, criterion) appears exactly once with a score on the scale: otherwise the whole
  answer is unparsed (recorded), never partly guessed.
* :class:`ConstitutionJudge`: a list of principles; one call per pair asks for one line ``name: A|B|TIE`` per
  principle. Each principle's verdict is kept as its own pairwise judgment (criterion = the principle), never
  summed into one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from prefkit.annotation.runner import ChatRunner
from prefkit.annotation.types import FAILED, UNPARSED, ChatRequest, PairTask, Verdict
from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import BackendError, ValidationError


@dataclass(frozen=True)
class RubricScore:
    response: int  # 1-based position shown
    criterion: str
    score: float
    rationale: str


def _json_object(text: str) -> object | None:
    dec = json.JSONDecoder()
    for m in re.finditer(r"\{", text):
        try:
            obj, _ = dec.raw_decode(text, m.start())
        except ValueError:
            continue
        if isinstance(obj, dict) and "scores" in obj:
            return obj
    return None


def parse_rubric(
    text: str, k: int, criteria: Sequence[str], lo: float, hi: float
) -> list[RubricScore] | None:
    """The K x criteria scores of a rubric answer, or None when it is not exactly that."""
    obj = _json_object(text)
    if not isinstance(obj, dict) or not isinstance(obj.get("scores"), list):
        return None
    out: dict[tuple[int, str], RubricScore] = {}
    for e in obj["scores"]:
        if not isinstance(e, dict):
            return None
        r, c, s = e.get("response"), e.get("criterion"), e.get("score")
        if (
            not isinstance(r, int)
            or isinstance(s, bool)
            or not isinstance(s, int | float)
            or c not in criteria
        ):
            return None
        if not 1 <= r <= k or not lo <= s <= hi or (r, c) in out:
            return None
        out[(r, str(c))] = RubricScore(r, str(c), float(s), str(e.get("rationale", "")))
    if len(out) != k * len(criteria):
        return None
    return [out[(r, c)] for r in range(1, k + 1) for c in criteria]


class RubricJudge:
    """Scores K responses on each criterion (``criteria``: name -> description) on ``[lo, hi]``."""

    def __init__(
        self,
        runner: ChatRunner,
        criteria: dict[str, str],
        *,
        lo: int = 1,
        hi: int = 5,
        max_tokens: int = 1024,
    ) -> None:
        if not criteria:
            raise ValidationError("criteria: give at least one {name: description}")
        self.runner, self.criteria, self.lo, self.hi, self.max_tokens = runner, criteria, lo, hi, max_tokens

    def request(self, prompt: str, responses: Sequence[str]) -> ChatRequest:
        crit = "\n".join(f"- {n}: {d}" for n, d in self.criteria.items())
        shown = "\n\n".join(f"[Response {k}]\n{t}\n[End of Response {k}]" for k, t in enumerate(responses, 1))
        user = (
            f"Score each response to the instruction on each criterion from {self.lo} to {self.hi}, with a short "
            f"rationale.\n\nCriteria:\n{crit}\n\n[Instruction]\n{prompt}\n\n{shown}\n\nAnswer with one JSON object "
            '{"scores": [{"response": <number>, "criterion": "<name>", "score": <number>, "rationale": "..."}]} '
            "with one entry per response and criterion, and nothing else."
        )
        return ChatRequest((("user", user),), max_tokens=self.max_tokens)

    def score(self, tasks: Sequence[tuple[str, Sequence[str]]]) -> list[list[RubricScore] | None]:
        replies = self.runner.run([self.request(p, rs) for p, rs in tasks])
        names = list(self.criteria)
        return [
            None if isinstance(r, BackendError) else parse_rubric(r.text, len(rs), names, self.lo, self.hi)
            for r, (_, rs) in zip(replies, tasks, strict=True)
        ]


def parse_constitution(text: str, principles: Sequence[str]) -> dict[str, int]:
    """``{principle: outcome}`` from lines ``name: A|B|TIE``; a principle missing or given twice is UNPARSED."""
    found: dict[str, list[int]] = {p: [] for p in principles}
    labels = {"A": OUTCOME_A, "B": OUTCOME_B, "TIE": OUTCOME_TIE}
    for line in text.splitlines():
        m = re.match(r"\s*[-*]?\s*(.+?)\s*:\s*\**\s*(A|B|TIE)\b", line, re.I)
        if m and m.group(1).strip() in found:
            found[m.group(1).strip()].append(labels[m.group(2).upper()])
    return {p: v[0] if len(set(v)) == 1 and len(v) >= 1 else UNPARSED for p, v in found.items()}


class ConstitutionJudge:
    """Pairwise verdicts per principle (see the module doc); ``judge_principles`` returns one dict per task."""

    def __init__(self, runner: ChatRunner, principles: dict[str, str], *, max_tokens: int = 512) -> None:
        if not principles:
            raise ValidationError("principles: give at least one {name: text}")
        bad = [p for p in principles if ":" in p or not p.strip()]
        if bad:
            raise ValidationError(f"principle names must be non-empty and contain no ':' ({bad[0]!r})")
        self.runner, self.principles, self.max_tokens = runner, principles, max_tokens

    def request(self, t: PairTask) -> ChatRequest:
        plist = "\n".join(f"- {n}: {d}" for n, d in self.principles.items())
        user = (
            "Compare the two responses to the instruction separately under each principle below. For each "
            "principle write one line `<principle name>: A`, `: B` or `: TIE` (which response follows it better), "
            f"and nothing else.\n\nPrinciples:\n{plist}\n\n[Instruction]\n{t.prompt}\n\n[Response A]\n{t.first}\n"
            f"[End of Response A]\n\n[Response B]\n{t.second}\n[End of Response B]"
        )
        return ChatRequest((("user", user),), max_tokens=self.max_tokens)

    def judge_principles(self, tasks: Sequence[PairTask]) -> list[dict[str, Verdict]]:
        replies = self.runner.run([self.request(t) for t in tasks])
        out = []
        for r in replies:
            if isinstance(r, BackendError):
                out.append({p: Verdict(FAILED, raw=str(r)) for p in self.principles})
                continue
            parsed = parse_constitution(r.text, list(self.principles))
            out.append({p: Verdict(o, raw=r.text) for p, o in parsed.items()})
        return out
