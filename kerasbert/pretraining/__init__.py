"""kerasbert.pretraining: masked-LM (and next-sentence) pretraining of BERT encoders.

    masking.py            BERT's masking rule, in-graph and per epoch (dynamic)
    pretraining_data.py   create_pretraining_data.py-style instances, TFRecord shards
    sharded_data.py       streaming, sharded, resumable preparation in worker processes
    beam_pipeline.py      the same preparation as an Apache Beam pipeline (beam extra)
    pretraining_model.py  encoder + MLM (+ NSP) heads, head weights in and out
    task.py               the loss and the held-out MLM accuracy / perplexity
    corpus.py             writing plain text as a pretraining corpus
    pretrain.py           the whole job, behind `python -m kerasbert.pretrain`
"""
