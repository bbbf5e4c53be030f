"""CoNLL-2003 NER with the offline MiniLM-L6 preset: train on train, select on valid, test F1.

Fine-tunes through `kerasbert.training.fine_tune.fine_tune` (the code behind
`python -m kerasbert.train --task=ner`), keeping the weights of the best
valid entity F1, then scores the test set with seqeval's entity-level F1.
Prints valid and test metrics, training seconds and examples/s.

    python bench/bench_conll.py --epochs=3 --output_dir=runs/bench_conll
"""

import argparse
import json
import os
import shlex
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data_dir", default=os.environ.get(
        "KERASBERT_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                              "data")))
    parser.add_argument("--output_dir", default="runs/bench_conll")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--case_markers", action="store_true",
                        help="mark capitalised and all-caps words (the encoder is uncased)")
    args = parser.parse_args()
    from kerasbert.cli.flags import quiet_tensorflow

    quiet_tensorflow()
    from kerasbert.tasks.model_directory import load_model_directory
    from kerasbert.training.fine_tune import fine_tune
    from kerasbert.training.task_data import read_task_data

    conll = os.path.join(args.data_dir, "conll2003")
    start = time.time()
    valid = fine_tune(task="ner", train_data=os.path.join(conll, "train.txt"),
                      eval_data=os.path.join(conll, "valid.txt"), model="all_minilm_l6_v2",
                      output_dir=args.output_dir, max_seq_length=args.max_seq_length,
                      epochs=args.epochs, batch_size=args.batch_size,
                      learning_rate=args.learning_rate, warmup_ratio=0.1,
                      checkpoint_every_steps=1000, case_markers=args.case_markers, verbose=0)
    wall = time.time() - start
    model, _, tokenizer, _ = load_model_directory(args.output_dir)
    data = read_task_data("ner", os.path.join(conll, "train.txt"), os.path.join(conll, "test.txt"),
                          task_settings={"case_markers": args.case_markers})
    test = data.inputs(tokenizer, batch_size=args.batch_size, seed=0,
                       batch_mode="bucket").evaluate_fn(model)
    history = json.load(open(os.path.join(args.output_dir, "history.json")))
    seconds = history[-1]["train_seconds"]
    examples = history[-1]["step"] * args.batch_size
    print(f"valid entity F1 {valid['entity_f1']:.4f}; test entity F1 {test['entity_f1']:.4f} "
          f"(precision {test['entity_precision']:.4f}, recall {test['entity_recall']:.4f})")
    print(f"{examples} sentences in {seconds:.0f} s of training: {examples / seconds:.1f} "
          f"sentences/s; wall {wall:.0f} s")
    with open(os.path.join(args.output_dir, "test_metrics.json"), "w") as f:
        json.dump(test, f, indent=2, sort_keys=True)
    print("reproduce: python bench/bench_conll.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]))


if __name__ == "__main__":
    main()
