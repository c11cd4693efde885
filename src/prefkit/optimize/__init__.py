"""prefkit.optimize: from preference data to training (see DESIGN.md).

* :mod:`.losses`: the DPO family as pure torch functions over per-sequence log-probabilities;
* :mod:`.groups`, :mod:`.pairs`: candidates per prompt with scores, and pure pair builders (all pairs, best vs
  worst / each, Curry-DPO stages);
* :mod:`.recipes`, :mod:`.build`, :mod:`.trl_format`, :mod:`.writer`: streamed, validated, atomic TRL rows
  (pairs, curricula, KTO, conditional-training tags, directional pairs, DNO pairs);
* :mod:`.iteration` (DNO / INPO / SPPO data from a judge), :mod:`.student` (ARTE: pairs by a student's gain);
* :mod:`.local_model`, :mod:`.train`: an offline SmolLM2 and a short TRL DPO run on CPU;
* :mod:`.simulate`: curated retraining, f-divergence optimal policies.

Backends (models, judges, students) come in as protocols; torch, TRL and transformers are imported lazily.
"""
