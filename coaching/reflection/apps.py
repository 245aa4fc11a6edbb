from __future__ import annotations

from django.apps import AppConfig


class ReflectionConfig(AppConfig):
    name = "coaching.reflection"
    label = "reflection"
    verbose_name = "Reflection questions"
