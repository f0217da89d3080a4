"""formats stage (see DESIGN.md)."""
