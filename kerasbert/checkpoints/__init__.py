"""kerasbert.checkpoints."""
