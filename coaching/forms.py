from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from coaching.parsing import MAX_BYTES


class TranscriptUploadForm(forms.Form):
    file = forms.FileField(
        label="Transcript file",
        help_text="CSV (speaker,text[,start]), text (Speaker: text lines), WebVTT, SRT or JSON; UTF-8; up to 5 MB.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.vtt,.srt,.json,text/plain,text/csv,text/vtt"}),
    )
    title = forms.CharField(label="Lesson title", max_length=200, required=False, help_text="The file name if empty.")
    lesson_date = forms.DateField(
        label="Lesson date", required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Today if empty."
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                f"“{upload.name}” is {upload.size / 1_048_576:.1f} MB; the limit is {MAX_BYTES // 1_048_576} MB."
            )
        return upload

    def clean_lesson_date(self) -> Any:
        return self.cleaned_data.get("lesson_date") or timezone.localdate()


class SpeakersForm(forms.Form):
    teacher_speakers = forms.MultipleChoiceField(
        label="Who is the teacher?",
        widget=forms.CheckboxSelectMultiple,
        help_text="Tick the teacher (or teachers); every other speaker is counted as a student.",
        error_messages={"required": "Choose at least one speaker who is the teacher."},
    )

    def __init__(self, *args: Any, speakers: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["teacher_speakers"].choices = [  # type: ignore[attr-defined]
            (s["name"], f"{s['name']} ({s['turns']} turn{'s' if s['turns'] != 1 else ''}, {s['words']} words)")
            for s in speakers
        ]
