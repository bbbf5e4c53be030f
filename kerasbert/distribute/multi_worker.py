"""Who writes what when several workers train one model.

Under MultiWorkerMirroredStrategy every worker runs the same program and
holds the same weights, but only the chief may write the run's files
(model, metrics, logs); the others write theirs to a directory of their own
under the output directory, where they also find their checkpoints again
after a restart. Checkpoints are saved by every worker, as
`tf.distribute` requires.
"""

import os


def is_chief(strategy):
    """True for the one process that writes the run's outputs (always, without workers)."""
    return strategy.extended.should_checkpoint


def worker_output_dir(output_dir, strategy):
    """`output_dir` for the chief; `output_dir/workers/worker_N` for other workers."""
    if is_chief(strategy):
        return output_dir
    resolver = strategy.cluster_resolver
    return os.path.join(output_dir, "workers", f"{resolver.task_type}_{resolver.task_id}")
