"""cases stage (see DESIGN.md)."""
