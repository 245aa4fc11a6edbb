"""Forms of the grading pages. They parse input; the services decide what is allowed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms

from grading.models import Grade, Label, Question
from grading.services import MAX_ANSWER_CHARS

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
