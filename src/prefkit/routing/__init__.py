"""Hybrid human/AI annotation: route each instance to a person or a judge under a budget (HyPER, Miranda et al.,
2024, allenai/hybrid-preferences), and simulate how good the mixed labels are.

* :mod:`.instances`: the instances (one per compared pair) of a human file and an AI file on the same pairs;
* :mod:`.features`: lexical features, HyPER's LLM-tagged dimensions (through the :class:`Tagger` protocol),
  user columns, and the binary design matrix the performance-prediction model reads;
* :mod:`.ppm`: the performance-prediction model (fitted cheaply on per-instance gains, or the expensive way on
  simulated mixes) and the budgeted top-gain plan;
* :mod:`.signals`: judge swap inconsistency, panel disagreement, reward-model uncertainty, leaderboard value;
* :mod:`.simulate`: policies (routed, random, all-human, all-AI) scored against held-back human votes;
* :mod:`.synthetic`: a generator with known per-feature judge accuracy, where the oracle routing is known.
"""
