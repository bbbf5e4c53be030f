"""kerasbert.configs: the programs' settings as plain dataclasses (no TensorFlow)."""
