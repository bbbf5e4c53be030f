"""kerasbert.pretraining: masked-LM (and next-sentence) pretraining of BERT encoders.
(The model, `tasks.pretraining_model`, and the masking rule, `tasks.masking`,
sit with the task models.)

    pretraining_data.py   create_pretraining_data.py-style instances, TFRecord shards
    sharded_data.py       streaming, sharded, resumable preparation in worker processes
    beam_pipeline.py      the same preparation as an Apache Beam pipeline (beam extra)
    task.py               the loss and the held-out MLM accuracy / perplexity
    corpus.py             writing plain text as a pretraining corpus
    pretrain.py           the whole job, behind `python -m kerasbert.pretrain`
"""
