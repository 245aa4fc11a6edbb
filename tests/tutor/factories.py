from __future__ import annotations

import factory

from tests.accounts.factories import CourseFactory
from tutor.models import Problem

# MathDial qid 6000025 (CC BY-SA 4.0): the worked solution has two steps, 12+3=15 and 15-5=10.
SPOONS_STATEMENT = (
    "Julia was preparing for a dinner party at her house, where she intended to serve stew. She noticed that "
    "she was out of plastic spoons, so she bought a new package of spoons. Later, her husband also bought a "
    "package of 5 new spoons and gave them to Julia. While Julia was making the stew, she used three of the "
    "spoons to sample her stew. Later, when she went to set the table, she had a total of 12 spoons. How many "
    "spoons were in the package that Julia bought?"
)
SPOONS_SOLUTION = (
    "The total number of spoons from Julia and her husband was 12+3=15 spoons.\n"
    "Since the husband bought a package of five spoons, then Julia's package contained 15-5=10 spoons.\n 10"
)


class ProblemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Problem

    course = factory.SubFactory(CourseFactory)
    title = factory.Sequence(lambda n: f"Spoons {n}")
    statement = SPOONS_STATEMENT
    worked_solution = SPOONS_SOLUTION
    final_answer = "10"
    misconceptions = ["subtracting instead of adding"]
    is_assigned = True
    source = "MathDial qid 6000025"
