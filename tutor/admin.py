from __future__ import annotations

from django.contrib import admin

from tutor.models import Problem, Turn, TutorSession, TutorSettings


@admin.register(Problem)
class ProblemAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "final_answer", "is_assigned")
    list_filter = ("course", "is_assigned")
    search_fields = ("title", "statement")


@admin.register(TutorSettings)
class TutorSettingsAdmin(admin.ModelAdmin):
    list_display = ("course", "allows_step_hints", "attempts_before_telling", "updated_at")


class TurnInline(admin.TabularInline):
    model = Turn
    extra = 0
    fields = ("speaker", "move", "status", "text", "is_flagged", "better_reply")
    readonly_fields = ("speaker", "move", "status", "text")


@admin.register(TutorSession)
class TutorSessionAdmin(admin.ModelAdmin):
    list_display = ("student", "problem", "status", "attempts", "is_answer_revealed", "started_at")
    list_filter = ("status", "problem__course")
    search_fields = ("student__username", "problem__title")
    list_select_related = ("student", "problem")
    inlines = [TurnInline]
