"""The training loop: one `strategy.run` loop (`trainer.Trainer`) under every
strategy, which the Keras task models' `fit`, `kerasbert.train`, `pretrain`,
`tune` and `customize` all train with, and its callbacks."""
