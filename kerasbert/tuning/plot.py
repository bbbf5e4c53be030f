"""search.png: the objective against each tuned value, and over the search's time.

One panel per tuned flag (log axis for log-sampled ranges, categories for
choices of words) with a dot per completed trial, and a last panel with each
trial's objective at its finish time and the best so far as a step line.
"""

import math
import os


def plot_search(output_dir, rows, meta, path=None):
    """Draw the search into `path` (default OUTPUT_DIR/search.png); returns the path,
    or None when no trial has completed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401 (matplotlib.ticker below)

    done = [r for r in rows if r["status"] == "COMPLETED" and r["objective"] is not None]
    if not done:
        return None
    space = meta.get("search_space", {})
    names = [n for n in space if any(n in r["hyperparameters"] for r in done)]
    panels = len(names) + 1
    cols = min(panels, 3)
    fig, axes = plt.subplots(math.ceil(panels / cols), cols, squeeze=False,
                             figsize=(4.2 * cols, 3.4 * math.ceil(panels / cols)))
    axes = axes.ravel()
    objective = meta["objective"]
    for ax, name in zip(axes, names):
        points = [(r["hyperparameters"][name], r["objective"]) for r in done
                  if name in r["hyperparameters"]]
        xs, ys = zip(*points)
        if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs):
            ax.scatter(xs, ys)
            if space[name].get("sampling") == "log" or (
                    space[name]["type"] == "choice" and min(xs) > 0 and max(xs) / min(xs) >= 10):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        else:
            labels = sorted({str(x) for x in xs})
            ax.scatter([labels.index(str(x)) for x in xs], ys)
            ax.set_xticks(range(len(labels)), labels, rotation=20, fontsize=8)
        ax.set_xlabel(name)
        ax.set_ylabel(objective)
    _over_time(axes[len(names)], done, objective, meta["direction"])
    for ax in axes[panels:]:
        ax.axis("off")
    fig.suptitle(f"{meta['tuner']} search, task {meta['task']}: dev {objective} "
                 f"({len(done)} completed trials)")
    fig.tight_layout()
    path = path or os.path.join(output_dir, "search.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _over_time(ax, done, objective, direction):
    """Each trial's objective at its finish (minutes since the first start), and the best so far."""
    start = min(r["started"] for r in done if r["started"]) if any(r["started"] for r in done) \
        else 0.0
    timed = sorted(((r["finished"] or start) - start, r["objective"]) for r in done)
    minutes = [t / 60 for t, _ in timed]
    values = [v for _, v in timed]
    best, line = None, []
    for v in values:
        best = v if best is None else (max(best, v) if direction == "max" else min(best, v))
        line.append(best)
    ax.scatter(minutes, values, label="trial")
    ax.step(minutes, line, where="post", color="tab:red", label="best so far")
    ax.set_xlabel("minutes since the search started")
    ax.set_ylabel(objective)
    ax.legend(fontsize=8)
