"""prefkit.service (see DESIGN.md)."""
