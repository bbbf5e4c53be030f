"""A stand-in for the Hugging Face model hub on 127.0.0.1, for tests with no network.

It answers the requests `huggingface_hub`'s download client makes
(`HEAD`/`GET {endpoint}/{repo}/resolve/{revision}/{file}`, with the
`X-Repo-Commit`, `ETag`, `Content-Length`, `Range` and `X-Error-Code` headers
the real hub sends), so `HF_ENDPOINT` pointed at it exercises the real client:
its cache, offline mode, tokens and error classes. Every request is recorded.

`tiny_bert_repo` makes the files of a small random BERT as a 2020-era hub
repository holds them (`config.json`, `vocab.txt` and the Keras `tf_model.h5`
that transformers' TFBertModel writes), with the arrays it wrote, so a test can
check each loaded weight against its source.
"""

import hashlib
import http.server
import io
import json
import threading
import urllib.parse

import numpy as np

from kerasbert.checkpoints.name_map import encoder_variable_names


class HubStandIn:
    """`add_repo(repo_id, files)`, then `endpoint`; `requests` lists (method, path)."""

    def __init__(self):
        self.repos = {}
        self.requests = []
        self._lock = threading.Lock()
        stand_in = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self):
                stand_in._answer(self, body=False)

            def do_GET(self):
                stand_in._answer(self, body=True)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add_repo(self, repo_id, files, token=None):
        """Serve `files` ({path: bytes}) as `repo_id` at revision "main" (and its
        commit hash); with `token`, only to requests that carry it."""
        digest = hashlib.sha1()
        for path in sorted(files):
            digest.update(path.encode() + hashlib.sha256(files[path]).digest())
        self.repos[repo_id] = {"files": dict(files), "commit": digest.hexdigest(),
                               "token": token}
        return self.repos[repo_id]["commit"]

    def count(self, fragment=""):
        with self._lock:
            return sum(1 for _, path in self.requests if fragment in path)

    def close(self):
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, handler, body):
        path = urllib.parse.unquote(urllib.parse.urlsplit(handler.path).path)
        with self._lock:
            self.requests.append((handler.command, path))
        parts = path.strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            return self._error(handler, 404, "RepoNotFound", None)
        repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        repo = self.repos.get(repo_id)
        if repo is None:
            return self._error(handler, 401, "RepoNotFound", None)
        if repo["token"] and handler.headers.get("authorization") != f"Bearer {repo['token']}":
            return self._error(handler, 401, "RepoNotFound", None)
        if revision not in ("main", repo["commit"]):
            return self._error(handler, 404, "RevisionNotFound", None)
        if filename not in repo["files"]:
            return self._error(handler, 404, "EntryNotFound", repo["commit"])
        data = repo["files"][filename]
        start = 0
        ranged = handler.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged[len("bytes="):].split("-")[0] or 0)
        handler.send_response(206 if start else 200)
        handler.send_header("X-Repo-Commit", repo["commit"])
        handler.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        handler.send_header("Content-Length", str(len(data) - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if body:
            handler.wfile.write(data[start:])

    @staticmethod
    def _error(handler, status, code, commit):
        message = json.dumps({"error": code}).encode()
        handler.send_response(status)
        handler.send_header("X-Error-Code", code)
        if commit:
            handler.send_header("X-Repo-Commit", commit)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(message)))
        handler.end_headers()
        if handler.command == "GET":
            handler.wfile.write(message)


TINY_CONFIG = {"vocab_size": 30522, "hidden_size": 128, "num_hidden_layers": 2,
               "num_attention_heads": 2, "intermediate_size": 512,
               "max_position_embeddings": 512, "type_vocab_size": 2}


def tiny_bert_arrays(config=TINY_CONFIG, seed=0):
    """{TF1 name: float32 array} of a random BERT of `config`'s shape."""
    h, i = config["hidden_size"], config["intermediate_size"]

    def shape(name):
        if name.endswith("word_embeddings"):
            return (config["vocab_size"], h)
        if name.endswith("token_type_embeddings"):
            return (config["type_vocab_size"], h)
        if name.endswith("position_embeddings"):
            return (config["max_position_embeddings"], h)
        if name.endswith("intermediate/dense/kernel"):
            return (h, i)
        if name.endswith("intermediate/dense/bias"):
            return (i,)
        if name.endswith("/output/dense/kernel") and "/attention/" not in name:
            return (i, h)
        return (h, h) if name.endswith("kernel") else (h,)

    rng = np.random.default_rng(seed)
    arrays = {}
    for name in encoder_variable_names(config["num_hidden_layers"]):
        array = rng.normal(0.0, 0.02, shape(name))  # as BERT initialises: LayerNorm scales
        arrays[name] = (array + 1.0 if name.endswith("gamma") else array).astype("float32")
    return arrays


def _tf_transformers_name(tf1_name):
    """bert/encoder/layer_0/attention/self/query/kernel -> the name TFBertModel
    gives that weight: bert/encoder/layer_._0/attention/self/query/kernel:0."""
    name = tf1_name.replace("/layer_", "/layer_._")
    if name.endswith("word_embeddings"):
        name += "/weight"
    elif name.endswith(("token_type_embeddings", "position_embeddings")):
        name += "/embeddings"
    return name + ":0"


def tf_model_h5(arrays, model_name="tf_bert_model"):
    """The bytes of a Keras 2 `save_weights` HDF5 file as transformers writes it:
    one top-level layer group per main layer (`bert`, and a `nsp___cls` head
    that an encoder must skip), datasets under `<layer>/<model>/<weight name>`."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.attrs["layer_names"] = [b"bert", b"nsp___cls"]
        h5.attrs["backend"] = b"tensorflow"
        names = []
        for tf1_name, array in arrays.items():
            name = f"{model_name}/{_tf_transformers_name(tf1_name)}"
            h5.create_dataset(f"bert/{name}", data=array)
            names.append(name.encode())
        h5["bert"].attrs["weight_names"] = names
        head = f"{model_name}/nsp___cls/seq_relationship/kernel:0"
        h5.create_dataset(f"nsp___cls/{head}", data=np.zeros((128, 2), "float32"))
        h5["nsp___cls"].attrs["weight_names"] = [head.encode()]
    return buffer.getvalue()


def tiny_bert_repo(vocab_path, seed=0):
    """({file: bytes} of a random BERT-Tiny hub repository, {TF1 name: array})."""
    arrays = tiny_bert_arrays(seed=seed)
    config = {"architectures": ["BertForPreTraining"], "model_type": "bert",
              "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
              "layer_norm_eps": 1e-12, **TINY_CONFIG}
    with open(vocab_path, "rb") as f:
        vocab = f.read()
    files = {"config.json": json.dumps(config, indent=2).encode(), "vocab.txt": vocab,
             "tf_model.h5": tf_model_h5(arrays)}
    return files, arrays


def directory_files(directory):
    """{relative path: bytes} of every file under `directory`."""
    import os

    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, directory)] = f.read()
    return files
