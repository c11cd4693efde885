"""The one-page HTML report: composes leaderboards (``ranking``), explanations (``analysis``) and the reward
model's reliability diagram (``reward``) into one self-contained page (inline CSS and SVG, no script, no network).
"""
