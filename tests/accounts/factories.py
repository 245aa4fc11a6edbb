from __future__ import annotations

import factory

from accounts.models import Course, Enrollment, Role, User

PASSWORD = "a-long-test-password-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.org")
    role = Role.STUDENT
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            self.save()


class StudentFactory(UserFactory):
    username = factory.Sequence(lambda n: f"student{n}")
    role = Role.STUDENT


class TeacherFactory(UserFactory):
    username = factory.Sequence(lambda n: f"teacher{n}")
    role = Role.TEACHER


class AdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    role = Role.ADMIN
    is_staff = True
    is_superuser = True


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"course-{n}")
    name = factory.Sequence(lambda n: f"Course {n}")

    @factory.post_generation
    def teachers(self, create: bool, extracted: list[User] | None, **kwargs: object) -> None:
        if create and extracted:
            self.teachers.add(*extracted)


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    course = factory.SubFactory(CourseFactory)
    student = factory.SubFactory(StudentFactory)
