"""What the training loop writes into its output directory (no TensorFlow
import: the programs check a directory for a run before any work starts)."""

BEST_WEIGHTS_FILE = "best.weights.safetensors"
CHECKPOINTS_DIR = "checkpoints"
