"""prefkit.optimize (see DESIGN.md)."""
