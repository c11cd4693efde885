"""prefkit.annotation (see DESIGN.md)."""
