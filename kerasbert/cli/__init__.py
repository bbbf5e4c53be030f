"""kerasbert.cli."""
