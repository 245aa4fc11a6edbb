"""Between grading's rows and the grader: a submission as the grader reads it (a `GradingExample`, a
`FeedbackItem`, its question's rubric items judged) and a verdict's score and feedback with the rubric applied.

No queries beyond the rows' own relations and no writes: the selectors read with these, the services write
what comes out of them.
"""

from __future__ import annotations

from decimal import Decimal

from grading.feedback import FeedbackItem, feedback_contradiction
from grading.grader_model import GradingExample, question_text_key
from grading.models import Question, Submission
from grading.rubric import RubricItem, rubric_items, rubric_judge, rubric_points, rubric_sentence, rubric_split

# A question's rubric items and, for each, whether the answer meets it.
Rubric = tuple[list[RubricItem], list[bool]]


def question_key(*, question: Question) -> str:
    """The question's id as the grader knows it (its examples' `question_id`)."""
    return f"question-{question.pk}"


def submission_example(*, submission: Submission) -> GradingExample:
    """The answer as the grader reads it, unlabelled."""
    question = submission.question
    return GradingExample(
        question=question.text,
        reference_answers=list(question.reference_answers),
        answer=submission.answer_text,
        question_id=question_key(question=question),
    )


def submission_rubric(*, submission: Submission) -> Rubric:
    """The question's rubric items and which of them the answer meets (the grader's judgement)."""
    items = rubric_items(submission.question.rubric)
    if not items:
        return [], []
    return items, rubric_judge(items=items, answer=submission.answer_text, question=submission.question.text)


def submission_feedback_item(*, submission: Submission, rubric: Rubric | None = None) -> FeedbackItem:
    """The answer as the feedback writer reads it (the label is the grader's, set when it has graded)."""
    question = submission.question
    items, met = rubric if rubric is not None else ([], [])
    rubric_met, rubric_missed = rubric_split(items=items, met=met)
    return FeedbackItem(
        question=question.text,
        question_key=question_text_key(question.text),
        reference_answers=list(question.reference_answers),
        answer=submission.answer_text,
        label="incorrect",
        rubric_met=rubric_met,
        rubric_missed=rubric_missed,
        is_reference_hidden=question.is_reference_hidden,
    )


def rubric_applied(
    *, submission: Submission, rubric: Rubric, points: Decimal, feedback: str, label: str
) -> tuple[Decimal, str, list[str], list[str]]:
    """(score, feedback, items met, items missed): with rubric items the score follows the items met and the
    feedback names them (unless naming them would state another verdict than the label)."""
    items, met = rubric
    if not items:
        return points, feedback, [], []
    rubric_met, rubric_missed = rubric_split(items=items, met=met)
    score = rubric_points(items=items, met=met, max_points=submission.question.max_points)
    sentence = rubric_sentence(met=rubric_met, missed=rubric_missed)
    if feedback and sentence and not feedback_contradiction(f"{feedback} {sentence}", label):
        feedback = f"{feedback} {sentence}"
    return score, feedback, rubric_met, rubric_missed
