"""Explanations as a self-contained HTML page (inline CSS, no script).

    from kerasbert.explain.html import render
    html = render(records)              # records of kerasbert.explain.explain
    IPython.display.HTML(html)          # in a notebook
    open("why.html", "w").write(html)

Each row shows its label and score, then its tokens, each shaded by its
attribution (green positive, red negative, opacity |a| / the row's largest
|a|), with the numbers in the `title` tooltip. NER rows show one such line
per entity; QA rows one for the answer's start and one for its end.
"""

import html as _html

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
.row { margin: 0 0 1.4em 0; padding: 0.6em 0.8em; border: 1px solid #ddd; border-radius: 6px; }
.head { margin-bottom: 0.4em; font-size: 0.95em; }
.head b { font-size: 1.05em; }
.note { color: #666; font-size: 0.85em; }
.tokens { line-height: 2.1em; }
.tok { padding: 0.15em 0.25em; margin: 0 0.05em; border-radius: 3px; font-family: monospace; }
.line { margin-top: 0.3em; }
.legend span { padding: 0.1em 0.4em; border-radius: 3px; margin-right: 0.5em; }
"""


def _escape(value):
    return _html.escape(str(value), quote=True)


def _number(value):
    return "n/a" if value is None else f"{float(value):.4g}"


def token_spans(tokens, attributions):
    """HTML spans of tokens shaded by their attributions."""
    largest = max((abs(float(a)) for a in attributions), default=0.0) or 1.0
    spans = []
    for token, value in zip(tokens, attributions):
        value = float(value)
        color = "0, 150, 60" if value >= 0 else "215, 40, 40"
        opacity = min(abs(value) / largest, 1.0)
        spans.append(f'<span class="tok" style="background: rgba({color}, {opacity:.3f})" '
                     f'title="{_escape(token)}: {value:.6g}">{_escape(token)}</span>')
    return " ".join(spans)


def _line(title, tokens, attributions):
    return (f'<div class="line"><span class="note">{_escape(title)}</span>'
            f'<div class="tokens">{token_spans(tokens, attributions)}</div></div>')


def render_record(record):
    """One row's HTML (a `div`)."""
    if "question" in record:  # QA
        text = f"{record['question']} / {record.get('context', '')}"
    else:
        text = record.get("text", "")
    if record.get("text_pair") is not None:
        text = f"{text} / {record['text_pair']}"
    parts = [f'<div class="row"><div class="head">{_escape(text)}</div>']
    if "entities" in record:  # NER: one line per entity
        if not record["entities"]:
            parts.append('<div class="note">no entities</div>')
        for entity in record["entities"]:
            parts.append(
                f'<div class="entity"><div class="head">entity <b>{_escape(entity["text"])}</b> '
                f'({_escape(entity["type"])}): score <b>{_number(entity.get("score"))}</b> '
                f'<span class="note">(baseline {_number(entity.get("baseline_score"))}, '
                f'convergence delta {_number(entity.get("convergence_delta"))})</span></div>')
            parts.append(_line("tokens", entity.get("tokens", record["tokens"]),
                               entity["attributions"]))
            parts.append("</div>")
    elif "start_attributions" in record:  # QA: the answer's start and end
        answer = record.get("answer", "")
        parts.append(f'<div class="head">answer <b>{_escape(answer or "(none)")}</b>: '
                     f'start score <b>{_number(record.get("start_score"))}</b>, end score '
                     f'<b>{_number(record.get("end_score"))}</b> <span class="note">(baselines '
                     f'{_number(record.get("start_baseline_score"))}, '
                     f'{_number(record.get("end_baseline_score"))}'
                     + (f'; the first of {record["windows"]} windows'
                        if record.get("windows", 1) > 1 else "") + ')</span></div>')
        parts.append(_line("start", record["tokens"], record["start_attributions"]))
        parts.append(_line("end", record["tokens"], record["end_attributions"]))
    else:
        label = record.get("label")
        head = (f"label <b>{_escape(label)}</b>, " if label is not None else "") + \
            f"score <b>{_number(record.get('score'))}</b>"
        parts.append(f'<div class="head">{head} <span class="note">(baseline '
                     f'{_number(record.get("baseline_score"))}, convergence delta '
                     f'{_number(record.get("convergence_delta"))})</span></div>')
        parts.append(_line("tokens", record["tokens"], record["attributions"]))
        if record.get("words"):
            parts.append(_line("words", record["words"], record["word_attributions"]))
    parts.append("</div>")
    return "\n".join(parts)


def page_start(title="kerasbert explanations"):
    """The page's head and the legend: `page_start() + rows + page_end()` is
    `render`'s page, written a row at a time."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_escape(title)}</title><style>{STYLE}</style></head><body>\n"
            f"<h1>{_escape(title)}</h1>\n"
            '<p class="legend"><span style="background: rgba(0, 150, 60, 0.6)">positive</span>'
            '<span style="background: rgba(215, 40, 40, 0.6)">negative</span>'
            "integrated gradients per token; hover for the numbers</p>")


def page_end():
    return "</body></html>"


def render(records, title="kerasbert explanations"):
    """A whole HTML page (str) of explanation records, usable with
    `IPython.display.HTML` or written to a file."""
    return "\n".join([page_start(title), *(render_record(r) for r in records), page_end()]) + "\n"
