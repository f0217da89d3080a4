"""classify stage (see DESIGN.md)."""
