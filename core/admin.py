from __future__ import annotations

from django.contrib import admin

from core.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "status", "progress", "total", "created_by", "created_at", "finished_at")
    list_filter = ("status", "kind")
    search_fields = ("title", "kind", "message")
    readonly_fields = [field.name for field in Job._meta.fields]
