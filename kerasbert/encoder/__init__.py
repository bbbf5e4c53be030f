"""kerasbert.encoder."""
