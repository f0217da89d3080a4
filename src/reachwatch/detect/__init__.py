"""detect stage (see DESIGN.md)."""
