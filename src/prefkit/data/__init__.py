"""prefkit.data (see DESIGN.md)."""
