from __future__ import annotations

from django.apps import AppConfig


class ModelsRuntimeConfig(AppConfig):
    """The bottom layer: imports no other app of the project (import-linter checks it)."""

    name = "models_runtime"
    verbose_name = "Models: backends and the model registry"
