"""prefkit.analysis (see DESIGN.md)."""
