"""lab stage (see DESIGN.md)."""
