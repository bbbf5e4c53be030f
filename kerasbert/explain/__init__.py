"""Explanations of predictions: integrated gradients on the embedding output
(`kerasbert.tasks.integrated_gradients`: the task models' own `explain`) and
their HTML report (`html.render`).

    from kerasbert.explain import explain, render
    records = explain(model, ["a gripping film"])     # model: a Keras task model
    html = render(records)                            # IPython.display.HTML(html)

NER models explain each predicted entity, QA models the answer's start and
end (`kerasbert.tasks.explain_ner_qa`).

`python -m kerasbert.explain --model=RUN_DIR TEXT ...` explains a model
directory's predictions (see kerasbert.cli.explain). Names are imported
lazily, so that the program checks its flags before importing TensorFlow.
"""

from kerasbert.lazy_names import lazy_names

_LAZY = {
    "Explainer": "kerasbert.tasks.integrated_gradients",
    "explain": "kerasbert.tasks.integrated_gradients",
    "render": "kerasbert.explain.html",
}

__getattr__, __dir__ = lazy_names(globals(), _LAZY)
