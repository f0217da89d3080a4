"""simulate stage (see DESIGN.md)."""
