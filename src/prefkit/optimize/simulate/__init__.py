"""Simulators: the self-consuming curated-retraining loop (:mod:`.curation`) and the optimal policies of
f-divergence-regularised reward maximisation (:mod:`.fdiv_targets`)."""
