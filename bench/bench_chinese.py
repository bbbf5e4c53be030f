"""Chinese end to end: a Chinese BERT pretrained from scratch, fine-tuned on
review sentiment and People's Daily NER, against the same shape from random
initialisation and the usual non-neural peers.

Reads `chinese/` of the shared data (`$KERASBERT_SHARED_DATA`, else
../shared/data beside the checkout): `corpus.txt` (pretraining text),
`sentiment/{train,dev}.tsv`, `ner/{train,dev}.txt` (a character and its BIO
tag a line).

1. vocabulary: a WordPiece vocabulary trained on corpus.txt (as
   `kerasbert.pretrain` trains it from scratch): its size, its single CJK
   characters, and the share of [UNK] on the dev sentences;
2. pretraining (`kerasbert.pretraining.pretrain.pretrain`, the API behind
   `python -m kerasbert.pretrain`): BERT-Mini's shape (or `--num_layers` /
   `--hidden_size`), masked-LM with Chinese whole-word masking (jieba's
   words), for `--pretrain_minutes` of training;
3. fine-tuning (`kerasbert.training.fine_tune.fine_tune`, behind `python -m
   kerasbert.train`) of sentiment and NER from the pretrained encoder and from
   random weights of the same shape (`random_init`), on the first
   `--sentiment_train` / `--ner_train` training rows; NER with the softmax
   tagger and, with `--ner_heads=softmax,crf`, a CRF output layer too;
4. peers on the same rows: snownlp's naive Bayes retrained on the training
   reviews, a character 1-3-gram TF-IDF logistic regression (scikit-learn),
   a CRF on character n-gram features (sklearn-crfsuite).

Each result is kept in `output_dir/results.json` as it comes (a rerun skips
the stages done; `--stages` picks some), and one table is printed.

    python bench/bench_chinese.py --pretrain_minutes=25 --output_dir=runs/bench_chinese
    python bench/bench_chinese.py --smoke      # minutes: the plumbing on tiny settings
"""

import argparse
import json
import os
import shlex
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

STAGES = ("vocabulary", "peers", "pretrain", "finetune")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    from kerasbert.paths import shared_data_dir

    parser.add_argument("--data_dir", default=str(shared_data_dir()))
    parser.add_argument("--output_dir", default="runs/bench_chinese")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--vocab_size", type=int, default=12000)
    parser.add_argument("--num_layers", type=int, default=4)
    parser.add_argument("--hidden_size", type=int, default=256)
    parser.add_argument("--pretrain_minutes", type=float, default=25.0)
    parser.add_argument("--pretrain_seq_length", type=int, default=128)
    parser.add_argument("--pretrain_batch_size", type=int, default=32)
    parser.add_argument("--pretrain_learning_rate", type=float, default=5e-4)
    parser.add_argument("--pretrain_epochs", type=int, default=1,
                        help="the learning-rate schedule's length; the time budget stops earlier")
    parser.add_argument("--sentiment_train", type=int, default=4000, help="0: all 13,455")
    parser.add_argument("--ner_train", type=int, default=4000, help="0: all 38,454 sentences")
    parser.add_argument("--ner_dev", type=int, default=1000, help="0: all 4,837 sentences")
    parser.add_argument("--finetune_epochs", type=int, default=2)
    parser.add_argument("--finetune_learning_rate", type=float, default=1e-4)
    parser.add_argument("--ner_epochs", type=int, default=0, help="0: --finetune_epochs")
    parser.add_argument("--ner_learning_rate", type=float, default=0,
                        help="0: --finetune_learning_rate")
    parser.add_argument("--ner_heads", default="softmax",
                        help="NER output layers to fine-tune, of softmax,crf (`--ner_head`)")
    parser.add_argument("--inits", default="pretrained,random",
                        help="encoders to fine-tune from, of pretrained,random")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if args.smoke:
        args.pretrain_minutes, args.sentiment_train, args.ner_train, args.ner_dev = 0.3, 300, 300, 100
        args.finetune_epochs, args.num_layers, args.hidden_size = 1, 1, 64
    from kerasbert.cli.flags import quiet_tensorflow

    quiet_tensorflow()
    os.makedirs(args.output_dir, exist_ok=True)
    data = prepare_data(args)
    results = load_results(args)
    stages = args.stages.split(",")
    for stage, function in (("vocabulary", vocabulary), ("peers", peers),
                            ("pretrain", pretrain_stage), ("finetune", finetune)):
        if stage in stages:
            function(args, data, results)
    report(args, results)
    print("reproduce: python bench/bench_chinese.py " + " ".join(shlex.quote(a)
                                                                 for a in sys.argv[1:]))


# -- data -----------------------------------------------------------------------------------


def read_conll(path):
    sentences, chars, tags = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if not parts:
                if chars:
                    sentences.append((chars, tags))
                chars, tags = [], []
            else:
                chars.append(parts[0])
                tags.append(parts[-1])
    if chars:
        sentences.append((chars, tags))
    return sentences


def read_tsv(path):
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return [(text, label) for text, label in rows]


def prepare_data(args):
    """The subsets every system trains and is measured on, written under output_dir."""
    root = os.path.join(args.data_dir, "chinese")
    sentiment_train = read_tsv(os.path.join(root, "sentiment", "train.tsv"))
    if args.sentiment_train:
        sentiment_train = sentiment_train[:args.sentiment_train]
    sentiment_dev = read_tsv(os.path.join(root, "sentiment", "dev.tsv"))
    ner_train = read_conll(os.path.join(root, "ner", "train.txt"))
    ner_dev = read_conll(os.path.join(root, "ner", "dev.txt"))
    if args.ner_train:
        ner_train = ner_train[:args.ner_train]
    if args.ner_dev:
        ner_dev = ner_dev[:args.ner_dev]
    files = {}
    for name, rows in (("sentiment_train", sentiment_train), ("sentiment_dev", sentiment_dev)):
        files[name] = os.path.join(args.output_dir, f"{name}.tsv")
        with open(files[name], "w", encoding="utf-8") as f:
            f.write("text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in rows))
    for name, sentences in (("ner_train", ner_train), ("ner_dev", ner_dev)):
        files[name] = os.path.join(args.output_dir, f"{name}.txt")
        with open(files[name], "w", encoding="utf-8") as f:
            f.write("".join("".join(f"{c} {t}\n" for c, t in zip(*s)) + "\n" for s in sentences))
    return {"root": root, "files": files, "sentiment_train": sentiment_train,
            "sentiment_dev": sentiment_dev, "ner_train": ner_train, "ner_dev": ner_dev}


def load_results(args):
    path = os.path.join(args.output_dir, "results.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    return {}


def save(args, results, key, value):
    """Record one result, keeping those another stage's process wrote meanwhile."""
    results.update(load_results(args))
    results[key] = value
    with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
    print(f"{key}: {json.dumps(value, ensure_ascii=False)}", flush=True)


# -- 1. the vocabulary -------------------------------------------------------------------------


def is_cjk(token):
    from kerasbert.pretraining.chinese_words import has_cjk

    return len(token) == 1 and has_cjk(token)


def vocabulary(args, data, results):
    """The corpus' vocabulary (as `kerasbert.pretrain` trains it), and the same
    keeping GB 2312's 6,763 common characters whether the corpus has them or not."""
    from kerasbert.tokenizers.wordpiece_trainer import common_chinese_characters

    for key, characters in (("vocabulary", ()),
                            ("vocabulary_gb2312", common_chinese_characters())):
        if key not in results:
            measure_vocabulary(args, data, results, key, characters)


def measure_vocabulary(args, data, results, key, characters):
    from kerasbert.tokenizers.wordpiece_trainer import train_wordpiece_tokenizer

    start = time.time()
    tokenizer = train_wordpiece_tokenizer(args.vocab_size + len(characters),
                                          files=[os.path.join(data["root"], "corpus.txt")],
                                          characters=characters)
    seconds = time.time() - start
    tokens = tokenizer.get_vocabulary()
    texts = ["".join(chars) for chars, _ in data["ner_dev"]] + [
        t for t, _ in data["sentiment_dev"]]
    ids = tokenizer.tokenize(texts).flat_values.numpy()
    news = ["".join(chars) for chars, _ in data["ner_dev"]]
    news_unk = [bool((tokenizer.tokenize([t]).flat_values.numpy() == tokenizer.unk_token_id)
                     .any()) for t in news[:500]]
    save(args, results, key, {
        "tokens": len(tokens), "single_cjk": sum(map(is_cjk, tokens)),
        "unk_share_dev": float((ids == tokenizer.unk_token_id).mean()),
        "news_sentences_with_unk": f"{sum(news_unk)} of {len(news_unk)}",
        "seconds": round(seconds, 1)})


# -- 2. peers -------------------------------------------------------------------------------


def peers(args, data, results):
    train, dev = data["sentiment_train"], data["sentiment_dev"]
    gold = [label for _, label in dev]
    if "tfidf_lr" not in results:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        start = time.time()
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                     min_df=2)
        features = vectorizer.fit_transform([t for t, _ in train])
        classifier = LogisticRegression(C=4.0, max_iter=2000).fit(
            features, [label for _, label in train])
        predicted = classifier.predict(vectorizer.transform([t for t, _ in dev]))
        save(args, results, "tfidf_lr", {"sentiment": accuracy(gold, predicted),
                                         "seconds": round(time.time() - start, 1)})
    if "snownlp" not in results:
        from snownlp.sentiment import Sentiment

        start = time.time()
        model = Sentiment()  # snownlp's Bayes classifier, trained afresh here
        model.train([t for t, label in train if label == "negative"],
                    [t for t, label in train if label == "positive"])
        predicted = ["positive" if model.classify(t) >= 0.5 else "negative" for t, _ in dev]
        save(args, results, "snownlp", {"sentiment": accuracy(gold, predicted),
                                        "seconds": round(time.time() - start, 1)})
    if "crf" not in results:
        import sklearn_crfsuite
        from seqeval.metrics import f1_score

        start = time.time()
        crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=100)
        crf.fit([char_features(c) for c, _ in data["ner_train"]],
                [t for _, t in data["ner_train"]])
        predicted = crf.predict([char_features(c) for c, _ in data["ner_dev"]])
        save(args, results, "crf", {
            "ner": f1_score([t for _, t in data["ner_dev"]], predicted),
            "seconds": round(time.time() - start, 1)})


def accuracy(gold, predicted):
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold)


def char_features(chars):
    """Character 1-3-grams in a window of two characters each side."""
    padded = ["<s>", "<s>"] + list(chars) + ["</s>", "</s>"]
    out = []
    for i in range(2, len(padded) - 2):
        f = {"bias": 1.0}
        for k in range(-2, 3):
            f[f"c{k}"] = padded[i + k]
        for k in range(-2, 2):
            f[f"b{k}"] = padded[i + k] + padded[i + k + 1]
        for k in range(-2, 1):
            f[f"t{k}"] = "".join(padded[i + k:i + k + 3])
        out.append(f)
    return out


# -- 3. pretraining and fine-tuning --------------------------------------------------------------


def pretrained_dir(args):
    return os.path.join(args.output_dir, "pretrained")


def pretrain_stage(args, data, results):
    if "pretrain" in results:
        return
    from kerasbert.pretraining.pretrain import pretrain

    start = time.time()
    metrics = pretrain(
        train_data=os.path.join(data["root"], "corpus.txt"), output_dir=pretrained_dir(args),
        preset="bert_mini_en_uncased", vocab_size=args.vocab_size,
        num_layers=args.num_layers, hidden_size=args.hidden_size,
        num_heads=max(1, args.hidden_size // 64), intermediate_size=4 * args.hidden_size,
        max_seq_length=args.pretrain_seq_length, next_sentence=False, whole_word_masking=True,
        max_predictions_per_seq=20, batch_size=args.pretrain_batch_size,
        epochs=args.pretrain_epochs, learning_rate=args.pretrain_learning_rate,
        warmup_ratio=0.02, max_train_seconds=60 * args.pretrain_minutes,
        max_eval_examples=512, checkpoint_every_steps=1000, verbose=0)
    save(args, results, "pretrain", {
        "steps": metrics["steps"], "train_seconds": metrics["train_seconds"],
        "wall_seconds": round(time.time() - start, 1),
        "train_instances": metrics["train_instances"],
        "mlm_accuracy": metrics["after"]["mlm_accuracy"],
        "perplexity": metrics["after"]["perplexity"],
        "perplexity_before": metrics["before"]["perplexity"]})


def finetune(args, data, results):
    from kerasbert.training.fine_tune import fine_tune

    files = data["files"]
    runs = [("classification", files["sentiment_train"], files["sentiment_dev"], "accuracy",
             {})] + [("ner", files["ner_train"], files["ner_dev"], "entity_f1",
                      {"ner_head": head}) for head in args.ner_heads.split(",")]
    for init in args.inits.split(","):
        for task, train, dev, metric, settings in runs:
            epochs, learning_rate = args.finetune_epochs, args.finetune_learning_rate
            if task == "ner":
                epochs = args.ner_epochs or epochs
                learning_rate = args.ner_learning_rate or learning_rate
            key = f"bert_{init}_{'sentiment' if task == 'classification' else 'ner'}"
            if settings.get("ner_head", "softmax") != "softmax":
                key += "_" + settings["ner_head"]
            if key in results:
                continue
            start = time.time()
            out = fine_tune(task=task, train_data=train, eval_data=dev, model=pretrained_dir(args),
                            random_init=init == "random",
                            output_dir=os.path.join(args.output_dir, key),
                            max_seq_length=args.max_seq_length, epochs=epochs,
                            batch_size=32, learning_rate=learning_rate,
                            warmup_ratio=0.1, checkpoint_every_steps=100000, verbose=0,
                            **settings)
            save(args, results, key, {"score": out[metric],
                                      "seconds": round(time.time() - start, 1)})


# -- the table ----------------------------------------------------------------------------------


def report(args, results):
    def cell(key, field):
        row = results.get(key)
        return "-" if row is None else f"{100 * row[field]:.1f}"

    def secs(key, field="seconds"):
        row = results.get(key)
        return "-" if row is None else f"{row[field]:.0f} s"

    pre = results.get("pretrain")
    print(f"\nChinese, dev sets: sentiment accuracy on 2,000 reviews "
          f"(trained on {args.sentiment_train or 13455}), NER entity F1 on "
          f"{args.ner_dev or 4837} sentences (trained on {args.ner_train or 38454}); "
          f"fine-tuning {args.finetune_epochs} epoch(s) at {args.finetune_learning_rate:g}, NER "
          f"{args.ner_epochs or args.finetune_epochs} at "
          f"{args.ner_learning_rate or args.finetune_learning_rate:g}")
    print("| system | sentiment acc. | time | NER entity F1 | time |")
    print("|---|---|---|---|---|")
    shape = f"L{args.num_layers}/H{args.hidden_size}"
    for name, sentiment, ner in (
            (f"BERT {shape}, pretrained here (wwm)", "bert_pretrained_sentiment",
             "bert_pretrained_ner"),
            (f"BERT {shape}, random init", "bert_random_sentiment", "bert_random_ner")):
        print(f"| {name} | {cell(sentiment, 'score')} | {secs(sentiment)} | "
              f"{cell(ner, 'score')} | {secs(ner)} |")
        if f"{ner}_crf" in results:
            print(f"| {name}, CRF head | | | {cell(f'{ner}_crf', 'score')} | "
                  f"{secs(f'{ner}_crf')} |")
    print(f"| snownlp naive Bayes (retrained) | {cell('snownlp', 'sentiment')} | "
          f"{secs('snownlp')} | | |")
    print(f"| char 1-3-gram TF-IDF + LR | {cell('tfidf_lr', 'sentiment')} | "
          f"{secs('tfidf_lr')} | | |")
    print(f"| CRF, char n-grams | | | {cell('crf', 'ner')} | {secs('crf')} |")
    if pre:
        print(f"pretraining: {pre['steps']} steps of {args.pretrain_batch_size} x "
              f"{args.pretrain_seq_length} tokens in {pre['train_seconds']:.0f} s of training "
              f"({pre['wall_seconds']:.0f} s wall with vocabulary and data); held-out MLM "
              f"accuracy {pre['mlm_accuracy']:.3f}, perplexity {pre['perplexity_before']:.0f} "
              f"-> {pre['perplexity']:.1f}")
    for key, name in (("vocabulary", "vocabulary trained on corpus.txt"),
                      ("vocabulary_gb2312", "the same + GB 2312's characters")):
        if key in results:
            v = results[key]
            print(f"{name}: {v['tokens']} tokens, {v['single_cjk']} single CJK characters; "
                  f"[UNK] {100 * v['unk_share_dev']:.3f}% of dev tokens; NER dev sentences "
                  f"with [UNK]: {v['news_sentences_with_unk']} ({v['seconds']:.0f} s)")
    for a, b in (("bert_pretrained_sentiment", "bert_random_sentiment"),
                 ("bert_pretrained_ner", "bert_random_ner"),
                 ("bert_pretrained_ner_crf", "bert_pretrained_ner"),
                 ("bert_random_ner_crf", "bert_random_ner")):
        if a in results and b in results:
            print(f"{a} - {b}: {100 * (results[a]['score'] - results[b]['score']):+.1f} points")


if __name__ == "__main__":
    main()
