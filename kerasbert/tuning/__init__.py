"""kerasbert.tuning."""
