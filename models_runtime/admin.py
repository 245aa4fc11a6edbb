from __future__ import annotations

from django.contrib import admin

from models_runtime.models import ActivationRecord, ActiveModel, ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "backend", "status", "base_model", "created_at")
    list_filter = ("kind", "backend", "status")
    search_fields = ("name", "base_model", "location")
    readonly_fields = ("status", "created_at")


@admin.register(ActiveModel)
class ActiveModelAdmin(admin.ModelAdmin):
    """Read-only here: activation goes through the Models page, which records why."""

    list_display = ("task", "version", "activated_by", "activated_at")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ActivationRecord)
class ActivationRecordAdmin(admin.ModelAdmin):
    list_display = ("task", "version", "previous_version", "activated_by", "activated_at")
    list_filter = ("task",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
