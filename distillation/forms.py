from __future__ import annotations

from django import forms

from distillation.config import PRESETS
from distillation.models import DistillationRun


class RunStartForm(forms.Form):
    task = forms.ChoiceField(choices=DistillationRun.Task.choices)
    config = forms.ChoiceField(choices=[(name, name) for name in PRESETS], initial="tiny")
    seed = forms.IntegerField(min_value=0, max_value=1_000_000, initial=0)


class PromoteForm(forms.Form):
    confirm_worse = forms.BooleanField(required=False)
