"""Forms of the reflection-question pages. They parse input; the services and
`dialogue.question_spec_build` decide what is allowed and word the messages."""

from __future__ import annotations

from django import forms

from coaching.reflection.dialogue import DEFAULT_MAX_ROUNDS, MAX_ROUNDS_LIMIT


class DialogueForm(forms.Form):
    course = forms.IntegerField()
    topic = forms.CharField(required=False, strip=False)
    concepts = forms.CharField(required=False)
    level = forms.CharField(required=False)
    materials = forms.CharField(required=False, widget=forms.Textarea)
    materials_file = forms.FileField(required=False)
    max_rounds = forms.IntegerField(required=False, min_value=1, max_value=MAX_ROUNDS_LIMIT, initial=DEFAULT_MAX_ROUNDS)


class QuestionSaveForm(forms.Form):
    text = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 3}))
    rating = forms.CharField(required=False)


class AssignForm(forms.Form):
    due_at = forms.CharField(required=False)


class AnswerForm(forms.Form):
    text = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 5}))
