"""probe stage (see DESIGN.md)."""
