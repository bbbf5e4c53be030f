"""What the rest of the package asks of a task before TensorFlow is imported:
one `TaskSpec` per task, as data (no TensorFlow, no import of the task).

The command-line programs check `--task` and the flags that depend on it, and
`--help` lists the tasks, from these specs alone; the task's own module (its
`Task`, Keras model and serving signature) is imported when the task is used.
`registry.register_task` puts each field on the task's class, so this is the
one place a built-in task's attributes are declared.

A task from another package declares its spec under the entry-point group
`kerasbert.tasks` (`name = module:SPEC`, a module that imports no TensorFlow):

    # pyproject.toml of the other package
    [project.entry-points."kerasbert.tasks"]
    sentence_length = "mytasks.specs:SENTENCE_LENGTH"
"""

import dataclasses

# The default space of `kerasbert.tune` (see `tuning.search_space`): the BERT
# paper's fine-tuning ranges (Devlin et al. 2019, appendix A.3), widened
# around its learning rates on a log scale.
SEARCH_SPACE = {
    "learning_rate": {"type": "float", "min": 1e-5, "max": 1e-4, "sampling": "log"},
    "batch_size": {"type": "choice", "values": [16, 32]},
    "epochs": {"type": "int", "min": 2, "max": 4},
    "warmup_ratio": {"type": "choice", "values": [0.0, 0.06, 0.1]},
    "weight_decay": {"type": "choice", "values": [0.0, 0.01]},
    "dropout": {"type": "choice", "values": [0.0, 0.1]},
    "layer_decay": {"type": "choice", "values": [1.0, 0.9, 0.8]},
}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """A task as the programs see it. Classes are named "module:Class" and
    imported where they are used.

    Attributes:
        name: the task's name (`--task`).
        task_class: its `kerasbert.tasks.task.Task` subclass.
        keras_model: its Keras task model (a `BertTask` subclass).
        label_type: "categorical", "multi_label" or "regression" for the text
            tasks (`data.labels`); None where the data reader has its own
            labels (tags, spans).
        accepts_label_list: whether a label vocabulary may be given (`--labels`).
        reads_text_columns: whether its data is a CSV / TSV / JSONL file or
            tfds:NAME read by the column flags (--text_column, ...).
        setting_names: the `fine_tune` arguments (train flags) that are
            settings of the task: they go to its constructor and are saved
            with the model.
        input_names: the raw inputs of one row in evaluate / predict /
            export, in signature order; None: "text", and "text_pair" for
            models trained on pairs.
        stride_windows: whether texts longer than the model's sequence may be
            predicted over windows (evaluate / predict --stride).
        data_reader: the training data's reader (a
            `training.task_data.TaskData` subclass).
        signature: raw inputs in, predictions out (a
            `tasks.signature.TaskSignature` subclass); None: not served.
        search_space: the default space of `kerasbert.tune`.
    """

    name: str
    task_class: str
    keras_model: str
    label_type: str = None
    accepts_label_list: bool = False
    reads_text_columns: bool = True
    setting_names: tuple = ()
    input_names: tuple = None
    stride_windows: bool = False
    data_reader: str = "kerasbert.training.text_data:TextData"
    signature: str = None
    search_space: dict = dataclasses.field(default_factory=lambda: dict(SEARCH_SPACE))

    # The fields a task's class carries (`registry.register_task`).
    @classmethod
    def class_fields(cls):
        return tuple(f.name for f in dataclasses.fields(cls)
                     if f.name not in ("name", "task_class", "keras_model"))


def _module(name):
    return f"kerasbert.tasks.{name}"


# The built-in tasks, in the order the programs list them.
BUILT_IN = (
    TaskSpec("classification", _module("classification:ClassificationTask"),
             _module("classification:BertClassifier"), label_type="categorical",
             accepts_label_list=True, stride_windows=True,
             signature=_module("classification:ClassificationSignature")),
    TaskSpec("regression", _module("regression:RegressionTask"),
             _module("regression:BertRegressor"), label_type="regression",
             signature=_module("regression:RegressionSignature")),
    # The multi-label model is a BertClassifier with multi_label=True.
    TaskSpec("multilabel", _module("multilabel:MultiLabelTask"),
             _module("classification:BertClassifier"), label_type="multi_label",
             accepts_label_list=True, signature=_module("multilabel:MultiLabelSignature")),
    TaskSpec("ner", _module("token_classification:TokenClassificationTask"),
             _module("token_classification:BertTokenClassifier"),
             reads_text_columns=False,  # CoNLL files
             setting_names=("case_markers", "ner_head"), input_names=("text",),
             data_reader="kerasbert.training.tagging_data:TaggingData",
             signature=_module("token_classification:TaggingSignature"),
             search_space={**SEARCH_SPACE, "epochs": {"type": "int", "min": 3, "max": 5}}),
    TaskSpec("qa", _module("question_answering:QuestionAnsweringTask"),
             _module("question_answering:BertQuestionAnswerer"),
             reads_text_columns=False,  # SQuAD JSON
             setting_names=("version_2_with_negative", "null_score_diff_threshold",
                            "n_best_size", "max_answer_length", "doc_stride",
                            "max_query_length"),
             input_names=("question", "context"),
             data_reader="kerasbert.training.squad_data:SquadData",
             signature=_module("question_answering:QuestionAnsweringSignature"),
             search_space={**SEARCH_SPACE, "epochs": {"type": "int", "min": 2, "max": 3},
                           "warmup_ratio": {"type": "choice", "values": [0.1]}}),
)
