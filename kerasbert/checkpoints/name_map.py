"""One table of names: the original TF1 BERT variable name of every weight.

The TF1 names are the canonical names of kerasbert: the TF1 checkpoint uses
them as they are, kerasbert's own format stores them, and Hugging Face names
are derived from them by `hf_name`.
"""

import re


_DENSE = ("attention/self/query", "attention/self/key", "attention/self/value",
          "attention/output/dense", "intermediate/dense", "output/dense")
_LAYER_NORMS = ("attention/output/LayerNorm", "output/LayerNorm")


def encoder_variable_names(num_layers):
    """The TF1 names of a `num_layers` encoder's weights, in `encoder_variables` order."""
    names = ["bert/embeddings/word_embeddings", "bert/embeddings/token_type_embeddings",
             "bert/embeddings/position_embeddings", "bert/embeddings/LayerNorm/gamma",
             "bert/embeddings/LayerNorm/beta"]
    for i in range(num_layers):
        prefix = f"bert/encoder/layer_{i}/"
        names += [prefix + d + s for d in _DENSE for s in ("/kernel", "/bias")]
        names += [prefix + n + s for n in _LAYER_NORMS for s in ("/gamma", "/beta")]
    return names + ["bert/pooler/dense/kernel", "bert/pooler/dense/bias"]


def encoder_variables(encoder):
    """{TF1 name: Keras variable} for a `BertEncoder`, in checkpoint order."""
    emb = encoder.embeddings
    variables = [emb.word_embeddings.embeddings, emb.token_type_embeddings.embeddings,
                 emb.position_embeddings, emb.layer_norm.gamma, emb.layer_norm.beta]
    for block in encoder.transformer_layers:
        attn = block.attention
        for dense in (attn.query, attn.key, attn.value, attn.output_dense,
                      block.intermediate, block.output_dense):
            variables += [dense.kernel, dense.bias]
        for norm in (block.attention_layer_norm, block.output_layer_norm):
            variables += [norm.gamma, norm.beta]
    variables += [encoder.pooler.kernel, encoder.pooler.bias]
    names = encoder_variable_names(len(encoder.transformer_layers))
    return dict(zip(names, variables, strict=True))


def pretraining_head_variables(masked_lm_head=None, next_sentence_head=None):
    """{TF1 name: variable} for the MLM and NSP heads (either may be None)."""
    names = {}
    if masked_lm_head is not None:
        names.update({
            "cls/predictions/transform/dense/kernel": masked_lm_head.transform.kernel,
            "cls/predictions/transform/dense/bias": masked_lm_head.transform.bias,
            "cls/predictions/transform/LayerNorm/gamma": masked_lm_head.layer_norm.gamma,
            "cls/predictions/transform/LayerNorm/beta": masked_lm_head.layer_norm.beta,
            "cls/predictions/output_bias": masked_lm_head.output_bias,
        })
    if next_sentence_head is not None:
        names.update({
            "cls/seq_relationship/output_weights": next_sentence_head.output_weights,
            "cls/seq_relationship/output_bias": next_sentence_head.output_bias,
        })
    return names


_HF_SPECIAL = {
    "cls/predictions/output_bias": "cls.predictions.bias",
    "cls/seq_relationship/output_weights": "cls.seq_relationship.weight",
    "cls/seq_relationship/output_bias": "cls.seq_relationship.bias",
}


def hf_name(tf1_name):
    """(Hugging Face name, transpose?) for a TF1 name: dense kernels are stored
    `[in, out]` in TF1 and `[out, in]` in PyTorch's Linear."""
    if tf1_name in _HF_SPECIAL:
        return _HF_SPECIAL[tf1_name], False
    name = re.sub(r"^bert/", "", tf1_name)
    name = re.sub(r"layer_(\d+)", r"layer.\1", name).replace("/", ".")
    if name.endswith("_embeddings"):
        return name + ".weight", False
    if name.endswith(".kernel"):
        return name[: -len("kernel")] + "weight", True
    return name.replace(".gamma", ".weight").replace(".beta", ".bias"), False
