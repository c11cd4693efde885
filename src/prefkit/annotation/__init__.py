"""prefkit.annotation: LLM judges (see DESIGN.md and README "LLM judges").

* ``types``: the protocols (:class:`ChatBackend`: text in, text out; :class:`PairJudge`: pairs in, verdicts out)
  and the task / verdict records;
* backends: ``openai_backend`` (any OpenAI-compatible server), ``local`` (SmolLM2 GGUF served by xllamacpp on
  127.0.0.1), ``reward_judge`` (a trained reward model), ``scripted`` (planted biases);
* ``runner`` (concurrency, retries with backoff) and ``cache`` (SQLite reply cache: re-runs are free, crashed
  runs resume);
* ``prompts`` (versioned prompt packs and strict parsers), ``llm_judge`` (both orders, weighted verdicts),
  ``grading``, ``rubric`` (K-response rubrics, constitution judges), ``panel`` (majority / weighted votes);
* ``run`` (a dataset's pairs to verdict judgments), ``rank`` (ranking models with a judge under a budget),
  ``factory`` (``--model`` strings to judges).
"""
