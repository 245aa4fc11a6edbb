from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache

from tests.conftest import School
from tests.tutor.factories import ProblemFactory
from tutor.models import Problem


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    # The rate limit counts in the cache; each test starts with none sent.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _short_replies(settings) -> None:
    # The real model on two CPU cores: a few tokens per reply keep the suite fast. The policy's
    # checks do not depend on the length.
    settings.TUTOR_MAX_NEW_TOKENS = 6


@pytest.fixture
def problem(school: School) -> Problem:
    return ProblemFactory(course=school.course, title="Julia's spoons")


@pytest.fixture
def other_problem(school: School) -> Problem:
    return ProblemFactory(course=school.other_course, title="Spoons elsewhere")
