"""Forms of the grading pages. They parse input; the services decide what is allowed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django import forms

from accounts.models import User
from accounts.selectors import course_student_list
from grading.models import Assignment, Grade, Label, Question
from grading.services import MAX_ANSWER_CHARS, MAX_RUBRIC_ITEMS

LABEL_CHOICES = Label.choices
STATUS_CHOICES = Grade.Status.choices


class AnswerForm(forms.Form):
    # Length and emptiness are checked by submission_create, which words the message for students.
    answer = forms.CharField(
        required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3, "maxlength": MAX_ANSWER_CHARS})
    )


class GradeOverrideForm(forms.Form):
    label = forms.ChoiceField(choices=LABEL_CHOICES)
    score = forms.DecimalField(required=False, min_value=Decimal("0"), max_digits=6, decimal_places=2)
    feedback = forms.CharField(required=False, strip=False, widget=forms.Textarea)


class GradeFeedbackForm(forms.Form):
    feedback = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 4}))


class GradeRubricForm(forms.Form):
    """The rubric items a teacher ticked: their positions in the question's rubric (none ticked: none met)."""

    met = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=[])

    def __init__(self, *args: Any, item_count: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["met"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [(str(i), str(i + 1)) for i in range(item_count)]


class GradeIdsField(forms.Field):
    """Grade ids posted as repeated hidden inputs (`grade=3&grade=7`)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[int]:
        if not value:
            return []
        try:
            return sorted({int(item) for item in value})
        except (TypeError, ValueError) as error:
            raise forms.ValidationError("Grades are chosen by their numbers.") from error


class GradeGroupForm(forms.Form):
    """The grades of one group of similar answers."""

    grade = GradeIdsField(error_messages={"required": "Choose the grades of a group."})


class GradeGroupRelabelForm(GradeGroupForm):
    label = forms.ChoiceField(choices=LABEL_CHOICES)


class ReviewFilterForm(forms.Form):
    question = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    label = forms.ChoiceField(choices=[("", "Any label"), *LABEL_CHOICES], required=False)
    status = forms.ChoiceField(choices=[("", "Any status"), *STATUS_CHOICES], required=False)
    student = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, questions: list[Question], students: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["question"].choices = [  # type: ignore[attr-defined]
            ("", "Any question"),
            *[(question.pk, f"Q{question.position}") for question in questions],
        ]
        self.fields["student"].choices = [  # type: ignore[attr-defined]
            ("", "Any student"),
            *[(student.pk, student.display_name) for student in students],
        ]

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for grade_queue; invalid values are ignored, as if not chosen."""
        self.is_valid()  # fills cleaned_data with the fields that are valid
        data = self.cleaned_data
        return {
            "question_id": data.get("question"),
            "label": data.get("label") or None,
            "status": data.get("status") or None,
            "student_id": data.get("student"),
        }


class AnswersImportForm(forms.Form):
    file = forms.FileField(label="CSV file", widget=forms.FileInput(attrs={"accept": ".csv,text/csv"}))


class GradeReleaseForm(forms.Form):
    """What to release: the whole assignment, one question, one student, or one student's answer to one question."""

    question = forms.ModelChoiceField(queryset=Question.objects.none(), required=False, empty_label="Every question")
    student = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="Every student")

    def __init__(self, *args: Any, assignment: Assignment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        question = cast(forms.ModelChoiceField, self.fields["question"])
        question.queryset = assignment.questions.order_by("position")
        question.label_from_instance = lambda q: f"Q{q.position}: {q.text[:60]}"  # type: ignore[method-assign,assignment]
        student = cast(forms.ModelChoiceField, self.fields["student"])
        student.queryset = course_student_list(course=assignment.course)
        student.label_from_instance = lambda u: u.display_name  # type: ignore[method-assign,assignment]


class QuestionForm(forms.Form):
    """A question's fields and its rubric rows (repeated `rubric_text` and `rubric_points` inputs; a row left
    empty is dropped, a row with text and no points counts 1 point). question_create and question_update
    decide what is allowed."""

    text = forms.CharField(label="Question", required=False, widget=forms.Textarea(attrs={"rows": 3}))
    reference_answers = forms.CharField(
        label="Reference answer",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="A model answer. To give more than one, separate them with an empty line.",
    )
    max_points = forms.CharField(
        label="Max points",
        required=False,
        initial="1",
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01"}),
    )

    SPARE_ROWS = 3

    def __init__(self, data: Any = None, *, question: Question | None = None) -> None:
        initial: dict[str, Any] = {}
        rows: list[dict[str, str]] = []
        if question is not None:
            initial = {
                "text": question.text,
                "reference_answers": "\n\n".join(question.reference_answers or []),
                "max_points": f"{question.max_points.normalize():f}",
            }
            rows = [
                {"text": str(item.get("text", "")), "points": str(item.get("points", ""))}
                for item in question.rubric or []
                if isinstance(item, dict)
            ]
        super().__init__(data, initial=initial)
        if data is not None:
            texts, points = data.getlist("rubric_text"), data.getlist("rubric_points")
            points += [""] * (len(texts) - len(points))
            rows = [{"text": text, "points": point} for text, point in zip(texts, points, strict=False)]
        self.posted_rows = rows
        self.rubric_errors: list[str] = []
        shown = list(rows)
        while len(shown) < min(max(len(rows) + self.SPARE_ROWS, 4), MAX_RUBRIC_ITEMS):
            shown.append({"text": "", "points": ""})
        self.rubric_rows = [{**row, "number": str(number)} for number, row in enumerate(shown, start=1)]

    def service_kwargs(self) -> dict[str, Any]:
        answers = [part.strip() for part in self.cleaned_data["reference_answers"].replace("\r\n", "\n").split("\n\n")]
        rubric = [
            {"text": row["text"], "points": row["points"].strip() or "1"}
            for row in self.posted_rows
            if row["text"].strip() or row["points"].strip()
        ]
        return {
            "text": self.cleaned_data["text"],
            "reference_answers": [answer for answer in answers if answer],
            "max_points": self.cleaned_data["max_points"].strip() or "1",
            "rubric": rubric,
        }

    def add_service_errors(self, error: Any) -> None:
        """Show a service's field messages next to their fields (others at the top of the form)."""
        fields = (getattr(error, "extra", None) or {}).get("fields") or {}
        for name, problems in fields.items():
            for problem in problems:
                if name == "rubric":
                    self.rubric_errors.append(problem)
                else:
                    self.add_error(name if name in self.fields else None, problem)
        if not fields:
            self.add_error(None, error.message)
