"""A search's results: the table, the best recipe as a train config, the best model.

    OUTPUT_DIR/
        search.json        what was searched: task, objective and direction, tuner, space
        results.csv        one row per trial: id, status, objective, time, tuner id,
        results.json       hyperparameters, failure reason
        best_config.yaml   the best trial's flags: `python -m kerasbert.train --config=...`
        best_model/        the best trial's model directory (its best execution), kept
        search.png         objective against each tuned value, and over time

Everything here reads plain JSON files (KerasTuner's trial.json and the
trial records) and imports no TensorFlow, so `kerasbert.tune --summary DIR`
answers at once, even while a search is running.
"""

import csv
import glob
import io
import json
import os
import shutil

from kerasbert.outputs import write_json
from kerasbert.training.run_settings import BEST_WEIGHTS_FILE
from kerasbert.tuning import records

META_FILE = "search.json"
TRIALS_DIR = "trials"  # kerasbert.tuning.tuner.PROJECT_NAME
_INTERNAL = ("tuner/trial_id", "tuner/initial_epoch", "tuner/bracket", "tuner/round")
_MODEL_FILES_SKIPPED = ("checkpoints", BEST_WEIGHTS_FILE, "logs", records.EXECUTION_FILE)


def write_meta(output_dir, meta):
    os.makedirs(output_dir, exist_ok=True)
    write_json(os.path.join(output_dir, META_FILE), meta)


def read_meta(output_dir):
    path = os.path.join(output_dir, META_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{output_dir} holds no kerasbert search (no {META_FILE})")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def collect(output_dir):
    """One row per trial, by trial id: {trial_id, status, objective, seconds,
    tuner_id, started, finished, hyperparameters, reason, output_dir}."""
    meta = read_meta(output_dir)
    rows = []
    for path in sorted(glob.glob(os.path.join(output_dir, TRIALS_DIR, "trial_*", "trial.json"))):
        trial_dir = os.path.dirname(path)
        try:
            with open(path, encoding="utf-8") as f:
                trial = json.load(f)
        except ValueError:
            continue  # being written by a running search: the next refresh has it
        record = records.read(trial_dir) or {}
        values = dict(trial["hyperparameters"]["values"])
        if "tuner/epochs" in values:
            values["epochs"] = values.pop("tuner/epochs")
        hps = {k: v for k, v in values.items() if k not in _INTERNAL}
        status = trial["status"]
        if status == "RUNNING" and record.get("status") in ("COMPLETED", "FAILED"):
            status = record["status"]  # ended; the oracle stopped before saving it
        reason = record.get("reason") or _last_line(trial.get("message"))
        rows.append({
            "trial_id": trial["trial_id"], "status": status,
            "objective": trial["score"] if status == "COMPLETED" else None,
            "seconds": record.get("seconds"), "tuner_id": record.get("tuner_id"),
            "started": record.get("started"), "finished": record.get("finished"),
            "runs": len(records.runs(trial_dir)), "hyperparameters": hps,
            "continues": values.get("tuner/trial_id"),
            "reason": reason if status != "COMPLETED" else None,
            "output_dir": _best_execution(record, meta["objective"], meta["direction"]),
        })
    return rows


def best_row(rows, direction):
    """The completed row with the best objective, or None."""
    done = [r for r in rows if r["status"] == "COMPLETED" and r["objective"] is not None]
    if not done:
        return None
    pick = max if direction == "max" else min
    return pick(done, key=lambda r: r["objective"])


def write_table(output_dir, rows=None):
    """results.csv and results.json (the JSON also names the objective and the best trial)."""
    rows = collect(output_dir) if rows is None else rows
    meta = read_meta(output_dir)
    best = best_row(rows, meta["direction"])
    names = _hp_names(rows)
    columns = ["trial_id", "status", "objective", "seconds", "tuner_id", *names, "reason"]
    tmp = os.path.join(output_dir, "results.csv.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row["trial_id"], row["status"], row["objective"], row["seconds"],
                             row["tuner_id"], *(row["hyperparameters"].get(n) for n in names),
                             row["reason"]])
    os.replace(tmp, os.path.join(output_dir, "results.csv"))
    table = {"objective": meta["objective"], "direction": meta["direction"],
             "best_trial": best["trial_id"] if best else None, "trials": rows}
    tmp = os.path.join(output_dir, "results.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(table, f, indent=2)
    os.replace(tmp, os.path.join(output_dir, "results.json"))
    return rows


def write_best_config(output_dir, rows, train_values):
    """best_config.yaml: the train flags of the search (`train_values`: {flag: value},
    those that differ from kerasbert.train's defaults) with the best trial's
    values, and an output_dir of its own. Returns its path, or None."""
    import yaml

    meta = read_meta(output_dir)
    best = best_row(rows, meta["direction"])
    if best is None:
        return None
    config = {**best["hyperparameters"]}
    config.update({k: v for k, v in train_values.items() if k not in config})
    config["output_dir"] = os.path.join(output_dir, "best_retrained")
    config.pop("config", None)
    path = os.path.join(output_dir, "best_config.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# best trial {best['trial_id']} of the search in {output_dir}: "
                f"dev {meta['objective']} {best['objective']:.4f}\n"
                f"# python -m kerasbert.train --config={path}\n")
        yaml.safe_dump(config, f, sort_keys=False)
    return path


def export_best_model(output_dir, rows):
    """Copy the best trial's model directory (without its training state) to
    OUTPUT_DIR/best_model; returns that path, or None."""
    best = best_row(rows, read_meta(output_dir)["direction"])
    if best is None or not best["output_dir"] or not os.path.isdir(best["output_dir"]):
        return None
    target = os.path.join(output_dir, "best_model")
    if os.path.exists(target):
        shutil.rmtree(target)
    shutil.copytree(best["output_dir"], target,
                    ignore=lambda _, names: [n for n in names if n in _MODEL_FILES_SKIPPED])
    return target


def summary(output_dir):
    """The results table of a search (finished or running) as text."""
    meta = read_meta(output_dir)
    rows = collect(output_dir)
    best = best_row(rows, meta["direction"])
    names = _hp_names(rows)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("COMPLETED", "FAILED", "RUNNING")}
    out = io.StringIO()
    out.write(f"search {output_dir}: {meta['tuner']} tuner, task {meta['task']}, objective "
              f"{meta['objective']} ({meta['direction']})\n")
    out.write(f"{len(rows)} trials: {counts['COMPLETED']} completed, {counts['FAILED']} failed, "
              f"{counts['RUNNING']} running")
    out.write(f"; best: trial {best['trial_id']}, {best['objective']:.4f}\n" if best else "\n")
    header = ["", "trial", "status", meta["objective"], "seconds", "tuner", *names, "reason"]
    lines = [header]
    for row in rows:
        lines.append(["*" if best is row else "", row["trial_id"], row["status"],
                      _cell(row["objective"]),
                      "-" if row["seconds"] is None else f"{row['seconds']:.0f}",
                      row["tuner_id"] or "",
                      *(_cell(row["hyperparameters"].get(n)) for n in names),
                      (row["reason"] or "")[:80]])
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    for line in lines:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(line, widths)).rstrip() + "\n")
    return out.getvalue()


def _hp_names(rows):
    names = []
    for row in rows:
        names += [n for n in row["hyperparameters"] if n not in names]
    return names


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.4f}"
    return str(value)


def _last_line(message):
    lines = [line for line in (message or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def _best_execution(record, objective, direction):
    """The model directory of the trial's best execution (seed), or None."""
    scored = [e for e in record.get("executions") or [] if objective in e.get("metrics", {})]
    if not scored:
        return None
    pick = max if direction == "max" else min
    return pick(scored, key=lambda e: e["metrics"][objective])["output_dir"]
