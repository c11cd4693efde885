"""Versioned prompt packs: the judge's prompt and the parser of its answer, one object per protocol.

Pairwise packs (``PAIRWISE``) fill ``{question}``, ``{answer_a}``, ``{answer_b}``; grading packs (``GRADING``)
fill ``{question}`` and ``{answer}`` and read a score on a declared scale. Parsers never guess: an answer
with no verdict, or with two different verdicts, is ``UNPARSED`` (kept with its raw text, counted, reported).

Sources (Apache-2.0, short templates quoted with attribution):

* ``mt-bench-pair-v2`` / ``mt-bench-single-v1``: FastChat's ``llm_judge/data/judge_prompts.jsonl``
  (lm-sys/FastChat @ 0e6d3e4), names ``pair-v2`` and ``single-v1``;
* ``alpaca-eval-clf``: AlpacaEval's ``alpaca_eval_clf_gpt4_turbo`` prompt (tatsu-lab/alpaca_eval @ cd543a1),
  read with token log-probabilities (the weighted verdict);
* ``arena-hard-v1``: the five-way labels of Arena-Hard-Auto (lmarena/arena-hard-auto), prompt written here;
* ``prometheus-relative`` / ``prometheus-absolute``: the ``[RESULT]`` output convention of Prometheus 2,
  prompts written here;
* ``llmfao``: the "print only A, B or TIE" instruction of the llmfao GPT-4 judge, prompt written here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from prefkit.data.model import OUTCOME_A, OUTCOME_B, OUTCOME_TIE
from prefkit.errors import ValidationError

UNPARSED = -1


@dataclass(frozen=True)
class ParsedPair:
    outcome: int  # OUTCOME_A / OUTCOME_B / OUTCOME_TIE in shown order, or UNPARSED
    strength: float = math.nan  # signed, positive for A, in [-3, 3] (five-way packs: 1 or 2)


@dataclass(frozen=True)
class PairPack:
    """A pairwise prompt pack: ``messages(question, a, b)`` and ``parse(text)``."""

    name: str
    version: str
    system: str
    template: str
    parse: Callable[[str], ParsedPair]
    max_tokens: int = 512
    source: str = ""
    logprob_labels: tuple[str, str] | None = None  # tokens for A and B when read from log-probabilities

    def messages(self, question: str, answer_a: str, answer_b: str) -> tuple[tuple[str, str], ...]:
        user = self.template.replace("{question}", question)
        user = user.replace("{answer_a}", answer_a).replace("{answer_b}", answer_b)
        msgs: list[tuple[str, str]] = [("system", self.system)] if self.system else []
        return (*msgs, ("user", user))


@dataclass(frozen=True)
class GradePack:
    """A single-answer grading pack: a score on ``[lo, hi]`` read by ``parse(text)`` (NaN when unparsed)."""

    name: str
    version: str
    system: str
    template: str
    parse: Callable[[str], float]
    lo: float
    hi: float
    max_tokens: int = 512
    source: str = ""

    def messages(self, question: str, answer: str) -> tuple[tuple[str, str], ...]:
        user = self.template.replace("{question}", question).replace("{answer}", answer)
        msgs: list[tuple[str, str]] = [("system", self.system)] if self.system else []
        return (*msgs, ("user", user))


def _unique(found: list[str], table: dict[str, ParsedPair]) -> ParsedPair:
    labels = {table[f] for f in found if f in table}
    return labels.pop() if len(labels) == 1 else ParsedPair(UNPARSED)


def parse_bracket_abc(text: str) -> ParsedPair:
    """``[[A]]`` / ``[[B]]`` / ``[[C]]`` (tie), as in MT-Bench pair-v2; none or conflicting: unparsed."""
    table = {"A": ParsedPair(OUTCOME_A), "B": ParsedPair(OUTCOME_B), "C": ParsedPair(OUTCOME_TIE)}
    return _unique(re.findall(r"\[\[\s*([ABC])\s*\]\]", text), table)


FIVE_WAY = {
    "A>>B": ParsedPair(OUTCOME_A, 2.0),
    "A>B": ParsedPair(OUTCOME_A, 1.0),
    "A=B": ParsedPair(OUTCOME_TIE, 0.0),
    "B>A": ParsedPair(OUTCOME_B, -1.0),
    "B>>A": ParsedPair(OUTCOME_B, -2.0),
}


def parse_five_way(text: str) -> ParsedPair:
    """``[[A>>B]]``, ``[[A>B]]``, ``[[A=B]]``, ``[[B>A]]``, ``[[B>>A]]`` (Arena-Hard); strength 2 / 1 / 0."""
    found = [re.sub(r"\s+", "", f) for f in re.findall(r"\[\[([^\[\]]{3,9})\]\]", text)]
    return _unique(found, FIVE_WAY)


def parse_result_ab(text: str) -> ParsedPair:
    """``[RESULT] A`` or ``[RESULT] B`` (Prometheus relative grading); a tie is not a Prometheus answer."""
    table = {"A": ParsedPair(OUTCOME_A), "B": ParsedPair(OUTCOME_B)}
    return _unique(re.findall(r"\[RESULT\]\s*\(?([AB])\b", text), table)


def parse_only_ab_tie(text: str) -> ParsedPair:
    """The whole answer is ``A``, ``B`` or ``TIE`` (case and surrounding punctuation ignored)."""
    t = text.strip().strip(".*\"' \n").upper()
    table = {"A": ParsedPair(OUTCOME_A), "B": ParsedPair(OUTCOME_B), "TIE": ParsedPair(OUTCOME_TIE)}
    return table.get(t, ParsedPair(UNPARSED))


def parse_identifier_mM(text: str) -> ParsedPair:
    """AlpacaEval's classifier answer: the identifier ``m`` (first output) or ``M`` (second), nothing else."""
    t = text.strip()
    return {"m": ParsedPair(OUTCOME_A), "M": ParsedPair(OUTCOME_B)}.get(t, ParsedPair(UNPARSED))


def parse_bracket_rating(text: str, lo: float = 1, hi: float = 10) -> float:
    """``[[rating]]`` (MT-Bench single-v1): one number in ``[lo, hi]``; none, several or out of range: NaN."""
    found = {float(x) for x in re.findall(r"\[\[\s*(\d+(?:\.\d+)?)\s*\]\]", text)}
    if len(found) != 1:
        return math.nan
    v = found.pop()
    return v if lo <= v <= hi else math.nan


def parse_result_score(text: str) -> float:
    """``[RESULT] n`` with n in 1..5 (Prometheus absolute grading); otherwise NaN."""
    found = {float(x) for x in re.findall(r"\[RESULT\]\s*\(?([1-5])\b", text)}
    return found.pop() if len(found) == 1 else math.nan


_MT_PAIR_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants "
    "to the user question displayed below. You should choose the assistant that follows the user's instructions "
    "and answers the user's question better. Your evaluation should consider factors such as the helpfulness, "
    "relevance, accuracy, depth, creativity, and level of detail of their responses. Begin your evaluation by "
    "comparing the two responses and provide a short explanation. Avoid any position biases and ensure that the "
    "order in which the responses were presented does not influence your decision. Do not allow the length of "
    "the responses to influence your evaluation. Do not favor certain names of the assistants. Be as objective "
    "as possible. After providing your explanation, output your final verdict by strictly following this "
    'format: "[[A]]" if assistant A is better, "[[B]]" if assistant B is better, and "[[C]]" for a tie.'
)
_PAIR_TEMPLATE = (
    "[User Question]\n{question}\n\n[The Start of Assistant A's Answer]\n{answer_a}\n"
    "[The End of Assistant A's Answer]\n\n[The Start of Assistant B's Answer]\n{answer_b}\n"
    "[The End of Assistant B's Answer]"
)
_MT_SINGLE = (
    "[Instruction]\nPlease act as an impartial judge and evaluate the quality of the response provided by an AI "
    "assistant to the user question displayed below. Your evaluation should consider factors such as the "
    "helpfulness, relevance, accuracy, depth, creativity, and level of detail of the response. Begin your "
    "evaluation by providing a short explanation. Be as objective as possible. After providing your explanation, "
    'you must rate the response on a scale of 1 to 10 by strictly following this format: "[[rating]]", for '
    'example: "Rating: [[5]]".\n\n[Question]\n{question}\n\n[The Start of Assistant\'s Answer]\n{answer}\n'
    "[The End of Assistant's Answer]"
)
_ALPACA_SYSTEM = (
    "You are a highly efficient assistant, who evaluates and selects the best large language model (LLMs) based "
    "on the quality of their responses to a given instruction. This process will be used to create a "
    "leaderboard reflecting the most accurate and human-preferred answers."
)
_ALPACA_USER = (
    "I require a leaderboard for various large language models. I'll provide you with prompts given to these "
    "models and their corresponding outputs. Your task is to assess these responses, and select the model that "
    'produces the best output from a human perspective.\n\n## Instruction\n\n{\n    "instruction": """'
    '{question}""",\n}\n\n## Model Outputs\n\nHere are the unordered outputs from the models. Each output is '
    "associated with a specific model, identified by a unique model identifier.\n\n{\n    {\n        "
    '"model_identifier": "m",\n        "output": """{answer_a}"""\n    },\n    {\n        '
    '"model_identifier": "M",\n        "output": """{answer_b}"""\n    }\n}\n\n## Task\n\nEvaluate the '
    "models based on the quality and relevance of their outputs, and select the model that generated the best "
    "output. Answer by providing the model identifier of the best model. We will use your output as the name of "
    "the best model, so make sure your output only contains one of the following model identifiers and nothing "
    "else (no quotes, no spaces, no new lines, ...): m or M.\n\n## Best Model Identifier"
)
_FIVE_SYSTEM = (
    "Please act as an impartial judge and compare the two responses of AI assistants A and B to the user prompt "
    "below. Think about correctness, helpfulness, relevance and concision; do not let the order or the length of "
    "the responses sway you. After a short explanation, output exactly one final verdict label: "
    "[[A>>B]] (A is significantly better), [[A>B]] (A is slightly better), [[A=B]] (tie, relatively the same), "
    "[[B>A]] (B is slightly better) or [[B>>A]] (B is significantly better)."
)
_PROM_REL = (
    "You are a fair judge. Compare the two responses to the instruction below by the rubric "
    '"Is the response helpful, correct and well written?". Write brief feedback, then end with '
    '"[RESULT] A" or "[RESULT] B" for the better response.\n\n### Instruction:\n{question}\n\n'
    "### Response A:\n{answer_a}\n\n### Response B:\n{answer_b}\n\n### Feedback:"
)
_PROM_ABS = (
    "You are a fair judge. Score the response to the instruction below from 1 to 5 by the rubric "
    '"Is the response helpful, correct and well written?" (1: not at all, 5: fully). Write brief feedback, '
    'then end with "[RESULT] n" where n is an integer from 1 to 5.\n\n### Instruction:\n{question}\n\n'
    "### Response:\n{answer}\n\n### Feedback:"
)
_LLMFAO = (
    "I will give you a prompt and two answers to it, A and B. Decide which answer is better. Print only A if "
    "A is better, B if B is better, or TIE if they are equally good; print nothing else.\n\n"
    "Prompt:\n{question}\n\nAnswer A:\n{answer_a}\n\nAnswer B:\n{answer_b}"
)

PAIRWISE: dict[str, PairPack] = {
    p.name: p
    for p in (
        PairPack("mt-bench-pair-v2", "pair-v2", _MT_PAIR_SYSTEM, _PAIR_TEMPLATE, parse_bracket_abc,
                 source="lm-sys/FastChat judge_prompts.jsonl pair-v2 (Apache-2.0)"),
        PairPack("arena-hard-v1", "1", _FIVE_SYSTEM, _PAIR_TEMPLATE, parse_five_way,
                 source="labels of lmarena/arena-hard-auto (Apache-2.0); prompt written for prefkit"),
        PairPack("alpaca-eval-clf", "clf-gpt4-turbo", _ALPACA_SYSTEM, _ALPACA_USER, parse_identifier_mM,
                 max_tokens=1, logprob_labels=("m", "M"),
                 source="tatsu-lab/alpaca_eval alpaca_eval_clf_gpt4_turbo (Apache-2.0)"),
        PairPack("prometheus-relative", "1", "", _PROM_REL, parse_result_ab,
                 source="[RESULT] convention of Prometheus 2; prompt written for prefkit"),
        PairPack("llmfao", "1", "", _LLMFAO, parse_only_ab_tie, max_tokens=4,
                 source="instruction of the llmfao GPT-4 judge (dustalov/llmfao); prompt written for prefkit"),
    )
}  # fmt: skip

GRADING: dict[str, GradePack] = {
    p.name: p
    for p in (
        GradePack("mt-bench-single-v1", "single-v1", "You are a helpful assistant.", _MT_SINGLE,
                  parse_bracket_rating, 1, 10, source="lm-sys/FastChat judge_prompts.jsonl single-v1 (Apache-2.0)"),
        GradePack("prometheus-absolute", "1", "", _PROM_ABS, parse_result_score, 1, 5,
                  source="[RESULT] convention of Prometheus 2; prompt written for prefkit"),
    )
}  # fmt: skip


def pair_pack(name: str) -> PairPack:
    if name not in PAIRWISE:
        raise ValidationError(
            f"unknown pairwise protocol {name!r}; choose one of {', '.join(PAIRWISE)} "
            f"(grading protocols: {', '.join(GRADING)})"
        )
    return PAIRWISE[name]


def grade_pack(name: str) -> GradePack:
    if name not in GRADING:
        raise ValidationError(f"unknown grading protocol {name!r}; choose one of {', '.join(GRADING)}")
    return GRADING[name]
