from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import Course, Enrollment, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active")
    list_filter = ("role", "is_active", "is_staff")
    search_fields = ("username", "email", "first_name", "last_name")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Tutorloop", {"fields": ("role",)}))  # type: ignore[misc]
    add_fieldsets = (*DjangoUserAdmin.add_fieldsets, ("Tutorloop", {"fields": ("role",)}))


class EnrollmentInline(admin.TabularInline):
    model = Enrollment
    extra = 0
    autocomplete_fields = ("student",)


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "created_at")
    search_fields = ("code", "name")
    filter_horizontal = ("teachers",)
    inlines = (EnrollmentInline,)


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("course", "student", "created_at")
    list_filter = ("course",)
    search_fields = ("student__username", "course__name")
    autocomplete_fields = ("student", "course")
