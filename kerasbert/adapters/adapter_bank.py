"""Many users' adapters over one base encoder in memory, switched by user id.

    bank = AdapterBank(base_model_dir_or_preset, tokenizer)
    bank.add("alice", "adapters/alice.safetensors")
    bank.add("bob", "adapters/bob.safetensors")
    bank.predict_logits("alice", ["great film"])   # alice's adapters and head
    bank.predict_logits("bob", ["great film"])     # swapped in place, base not reloaded

Switching assigns the user's adapter matrices and head (a few hundred KB)
into the one model; the base weights are never copied or reloaded. Users
with the same adapter settings and head size share the model; a bank keeps
one model per distinct (settings, head size).
"""

from kerasbert.adapters.lora import assign_adapter, enable_lora, read_adapter


class AdapterBank:
    """Adapters of many users over one base encoder.

    Args:
        encoder_fn: `() -> BertEncoder` that builds the base encoder with its
            pretrained weights (called once per distinct adapter setting).
        tokenizer: a `BertTokenizer` for raw-text calls.
        head: "pooled" (sentence tasks) or "sequence" (token tasks).
    """

    def __init__(self, encoder_fn, tokenizer, head="pooled"):
        self.encoder_fn, self.tokenizer, self.head = encoder_fn, tokenizer, head
        self._adapters = {}   # user -> (arrays, settings)
        self._models = {}     # (settings, head size) -> [model, user loaded now]

    @property
    def users(self):
        return sorted(self._adapters)

    def add(self, user, path):
        """Register (or replace) `user`'s adapter file; it is read now, loaded on use."""
        self._adapters[user] = read_adapter(path)
        for entry in self._models.values():
            if entry[1] == user:
                entry[1] = None

    def model_for(self, user):
        """The shared model with `user`'s adapters and head in place."""
        if user not in self._adapters:
            raise KeyError(f"no adapter for user {user!r}; known users: {', '.join(self.users)}")
        arrays, settings = self._adapters[user]
        key = (tuple(sorted(settings.items())), arrays["logits/bias"].shape[0])
        if key not in self._models:
            self._models[key] = [self._build(settings, key[1]), None]
        entry = self._models[key]
        if entry[1] != user:
            assign_adapter(entry[0], arrays, path=f"user {user!r}")
            entry[1] = user
        return entry[0]

    def predict_logits(self, user, texts, pairs=None):
        """Logits `[batch, num_outputs]` (or `[batch, seq, num_outputs]`) for raw texts."""
        model = self.model_for(user)
        features = self.tokenizer(list(texts), None if pairs is None else list(pairs))
        return model(features, training=False).numpy()

    def _build(self, settings, num_outputs):
        from kerasbert.tasks.keras_task import BertTask

        model = BertTask(self.encoder_fn(), num_outputs, head=self.head,
                         pooling=settings.get("pooling", "cls"))
        enable_lora(model, settings["rank"], settings["alpha"], settings["feed_forward"])
        return model
