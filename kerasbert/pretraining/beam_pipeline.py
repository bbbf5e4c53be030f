"""The sharded preparation of pretraining data as an Apache Beam pipeline, for
corpora beyond one machine (`pip install kerasbert[beam]`).

The pipeline is the local preparation (`kerasbert.pretraining.sharded_data`)
spread over a Beam runner: the driver lists the input files, plans the input
shards and checks / records the settings in the output directory exactly as
the local path does; the pipeline prepares each pending shard (same function,
same seeds, same files: temporary name, then renamed), and the driver then
marks the preparation complete. So a Beam run writes the same instances as a
local run of the same settings, resumes the same way (finished shards are
skipped, a retried bundle rewrites a shard whole), and `python -m
kerasbert.pretrain` reads its output without preparing again.

    shards --Create--> Reshuffle (spread over workers) --Map(prepare_shard)--> counts

Runners: `DirectRunner` (in-process, tests), `DataflowRunner`, `FlinkRunner`,
`SparkRunner`, `PortableRunner`; the runner's options are Beam's own flags,
e.g. for Dataflow `--project=P --region=R --temp_location=gs://B/tmp
--extra_package=dist/kerasbert-0.1.0.tar.gz` (workers need kerasbert). The
output directory and the corpus must then be on storage every worker reads,
such as gs://.
"""

import shlex

from kerasbert.pretraining.sharded_data import finish, make_plan, prepare_shard, start

BEAM_MISSING = ("the Beam preparation needs Apache Beam, an optional extra: "
                "pip install kerasbert[beam]")


def import_beam():
    """apache_beam, or a one-line ImportError naming the extra to install."""
    try:
        import apache_beam
    except ImportError:
        raise ImportError(BEAM_MISSING) from None
    return apache_beam


def pipeline_options(runner="DirectRunner", options=None):
    """Beam PipelineOptions from a runner name and Beam's own flags (a list or
    one string, e.g. "--project=P --region=R --temp_location=gs://B/tmp")."""
    beam = import_beam()
    from apache_beam.options.pipeline_options import PipelineOptions

    del beam
    args = shlex.split(options) if isinstance(options, str) else list(options or [])
    if runner and not any(a.startswith("--runner") for a in args):
        args = [f"--runner={runner}"] + args
    return PipelineOptions(args)


def prepare_with_beam(directory, train_data, tokenizer, max_seq_length, eval_data=None,
                      eval_fraction=0.05, next_sentence=True, short_seq_prob=0.1, dupe_factor=1,
                      seed=12345, shard_size_mb=8.0, encoding="utf-8", overwrite=False,
                      runner="DirectRunner", options=None, log=print, chinese_words=False):
    """Prepare the TFRecord shards in `directory` with a Beam pipeline (or
    reuse / resume them as the local path does); returns PreparedData.

    Arguments as `sharded_data.prepare_sharded`; `runner` and `options`: see
    `pipeline_options`.
    """
    beam = import_beam()
    plan = make_plan(directory, train_data, tokenizer, max_seq_length, eval_data, eval_fraction,
                     next_sentence, short_seq_prob, dupe_factor, seed, shard_size_mb, encoding,
                     chinese_words)
    pending = start(plan, overwrite, log)
    if not isinstance(pending, list):
        return pending
    if pending:
        log(f"preparing {len(pending)} shard(s) with Beam's {runner}")
        config, prep = plan.tokenizer_config, plan.options
        with beam.Pipeline(options=pipeline_options(runner, options)) as pipeline:
            _ = (pipeline
                 | "Shards" >> beam.Create(pending)
                 | "Spread" >> beam.Reshuffle()
                 | "Prepare" >> beam.Map(prepare_shard, config, prep))
    return finish(plan, log)
