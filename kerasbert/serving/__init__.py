"""Using a fine-tuned model directory: prediction, evaluation and SavedModel export.

    from kerasbert.serving import Predictor, export_saved_model
    predictor = Predictor.from_directory("runs/sentiment")
    predictor.predict({"text": ["a gripping film", "dull"]})
    export_saved_model("runs/sentiment", "exported/sentiment")
    # a Keras task model in memory (kerasbert.BertClassifier, ...), the same way:
    Predictor.from_model(model).predict({"text": ["a gripping film"]})
    export_task_model(model, "exported/sentiment")
    # one LiteRT file, raw strings in (kerasbert.serving.litert):
    export_litert("runs/sentiment", "exported/sentiment.tflite", quantize="int8")
    Predictor.from_litert("exported/sentiment.tflite").predict({"text": ["dull"]})

A model meets raw inputs through a `TaskIO` (`task_io.py`): its task's
serving signature (kept in the task's module, `Task.signature`) and its
task's data reader (`Task.data_reader`), which scores labelled files.
`register_task_io(name, cls)` gives a task another TaskIO.

Names are imported lazily, so that the command-line programs check their flags
before paying for a TensorFlow import.
"""

from kerasbert.lazy_names import lazy_names

_LAZY = {
    "Predictor": "kerasbert.serving.predictor",
    "ServingModel": "kerasbert.serving.serving_model",
    "export_saved_model": "kerasbert.serving.serving_model",
    "export_task_model": "kerasbert.serving.serving_model",
    "export_litert": "kerasbert.serving.litert",
    "TaskIO": "kerasbert.serving.task_io",
    "get_task_io": "kerasbert.serving.task_io",
    "register_task_io": "kerasbert.serving.task_io",
    "read_model_info": "kerasbert.serving.model_info",
}


__getattr__, __dir__ = lazy_names(globals(), _LAZY)
