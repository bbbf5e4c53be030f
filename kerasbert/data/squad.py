"""Reader of SQuAD v1.1 / v2.0 JSON files."""

import dataclasses
import json
from typing import Optional, Tuple

from kerasbert.data.errors import BadRecords
from kerasbert.data.errors import DataError
from kerasbert.data.files import check_decoded
from kerasbert.data.files import decoded_text


@dataclasses.dataclass(frozen=True)
class SquadAnswer:
    """An answer: its text and the character offset where it starts in the context."""

    text: str
    start: int

    @property
    def end(self):
        """Exclusive character end offset."""
        return self.start + len(self.text)


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One question on one context. `answers` is empty when `is_impossible`."""

    qas_id: str
    question: str
    context: str
    answers: Tuple[SquadAnswer, ...]
    is_impossible: bool = False
    title: Optional[str] = None


def read_squad(path, *, encoding="utf-8", skip_bad_records=False):
    """Read every question of a SQuAD file (v1.1, or v2.0 with `is_impossible`).

    Each answer is checked: its `text` must stand at `answer_start` in the
    context. Records are named by question id in errors.

    Returns:
        A list of SquadExample in file order.
    """
    path = str(path)
    text = decoded_text(path, encoding)
    try:
        data = json.loads(text)["data"]
    except json.JSONDecodeError as e:
        raise DataError(path, f"invalid JSON: {e.msg}", line=e.lineno) from None
    except (KeyError, TypeError):
        raise DataError(path, "not a SQuAD file", field="data") from None
    bad = BadRecords(path, skip=skip_bad_records)
    examples = []
    for a, article in enumerate(data):
        for p, paragraph in enumerate(article.get("paragraphs", ())):
            context = paragraph.get("context")
            for q, qa in enumerate(paragraph.get("qas", ())):
                record = qa.get("id", f"data[{a}].paragraphs[{p}].qas[{q}]")
                try:
                    examples.append(_example(path, record, qa, context, article.get("title"),
                                             encoding))
                except DataError as e:
                    bad.report(e)
    bad.log_summary()
    if not examples and not bad.total:
        raise DataError(path, "empty file: no questions", field="data")
    return examples


def _example(path, record, qa, context, title, encoding):
    if not isinstance(context, str) or not context.strip():
        raise DataError(path, "empty text", record=record, field="context")
    check_decoded(context, path, encoding, record=record, field="context")
    question = qa.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DataError(path, "empty text", record=record, field="question")
    check_decoded(question, path, encoding, record=record, field="question")
    impossible = bool(qa.get("is_impossible", False))
    answers = []
    if not impossible:
        raw_answers = qa.get("answers")
        if not raw_answers:
            raise DataError(path, "missing column: no answers", record=record, field="answers")
        for i, raw in enumerate(raw_answers):
            answers.append(_answer(path, record, i, raw, context))
    return SquadExample(qas_id=str(record), question=question, context=context,
                        answers=tuple(answers), is_impossible=impossible, title=title)


def _answer(path, record, index, raw, context):
    field = f"answers[{index}]"
    if "text" not in raw or "answer_start" not in raw:
        raise DataError(path, "missing column: an answer needs text and answer_start",
                        record=record, field=field)
    answer = SquadAnswer(text=raw["text"], start=int(raw["answer_start"]))
    found = context[answer.start:answer.end]
    if not answer.text.strip() or found != answer.text:
        raise DataError(path, f"answer text not at answer_start: expected {answer.text!r} at "
                        f"{answer.start}, the context has {found!r}", record=record,
                        field=f"{field}.answer_start")
    return answer
