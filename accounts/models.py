from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    STUDENT = "student", "Student"
    TEACHER = "teacher", "Teacher"
    ADMIN = "admin", "Admin"


class TutorloopUserManager(UserManager["User"]):
    def create_superuser(
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("role", Role.ADMIN)
        return super().create_superuser(username, email, password, **extra)


class User(AbstractUser):
    """A person who signs in. The role decides what they see; an empty role sees nothing."""

    role = models.CharField(max_length=20, choices=Role.choices, blank=True, db_index=True)

    objects: ClassVar[TutorloopUserManager] = TutorloopUserManager()

    class Meta:
        ordering = ["username"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["", "student", "teacher", "admin"]), name="accounts_user_role_valid"
            )
        ]

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @property
    def is_student(self) -> bool:
        return self.role == Role.STUDENT

    @property
    def is_teacher(self) -> bool:
        return self.role == Role.TEACHER

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN or self.is_superuser

    @property
    def effective_role(self) -> str:
        """The role pages act on: superusers count as admins."""
        return Role.ADMIN if self.is_superuser else self.role


class Course(models.Model):
    code = models.SlugField(max_length=40, unique=True, help_text="A short identifier, e.g. net-101.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    teachers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="courses_taught",
        blank=True,
        limit_choices_to={"role": Role.TEACHER},
    )
    students = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Enrollment", related_name="courses_enrolled", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Enrollment(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="enrollments")
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="enrollments",
        limit_choices_to={"role": Role.STUDENT},
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course", "student"]
        constraints = [models.UniqueConstraint(fields=["course", "student"], name="accounts_enrollment_unique")]

    def __str__(self) -> str:
        return f"{self.student} in {self.course}"
