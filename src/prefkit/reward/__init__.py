"""prefkit.reward (see DESIGN.md)."""
