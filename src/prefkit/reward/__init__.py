"""prefkit.reward: reward models on frozen embeddings (see DESIGN.md).

Modules: ``encoders`` (protocol, sentence-transformers / hashing backends, text rendering), ``cache`` (on-disk
embedding cache), ``pairs`` (PairFeatures), ``losses`` (standalone loss functions), the heads ``bt``
(Bradley-Terry, MLP, Scaled-BT), ``regression`` (ridge per attribute), ``armo`` (multi-objective + gating),
``plackett_luce`` (listwise), ``pluralistic`` (PAL, MaxMin EM), ``calibration`` and ``evaluate`` (temperature,
ECE/ACE/MCE, accuracy, k-fold CV), ``persist`` (model directories), ``pipeline`` (Dataset -> features ->
fitted, calibrated head) and ``trl_export``. Heads by name: ``prefkit.reward.heads.make_head``.
"""
