"""kerasbert.configs: the programs' settings as plain dataclasses (no TensorFlow).

One dataclass per program, each setting declared once, as a field whose
metadata holds its help and range or choices (`fields.setting`):

    training.TrainingConfig   the recipe (epochs, batch size, learning rate, ...)
    fine_tune.FineTuneConfig  kerasbert.train, `fine_tune`, each tuning trial
    pretrain.PretrainConfig   kerasbert.pretrain, `pretrain`
    search.SearchConfig       kerasbert.tune's search settings, `run_search`
    customize.CustomizeConfig kerasbert.customize, `customize`

The flags are generated from them (`kerasbert.cli.flags.define_flags_from`),
`--config` YAML sets the same names, and `validate()` checks the declared
ranges; adding a setting is one line in its dataclass.
"""
