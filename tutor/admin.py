from __future__ import annotations

from django.contrib import admin

from tutor.models import Problem


@admin.register(Problem)
class ProblemAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "final_answer", "is_assigned")
    list_filter = ("course", "is_assigned")
    search_fields = ("title", "statement")
