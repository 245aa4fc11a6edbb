"""Input and pages (issue 17, items 4 and 5): the short answer's error at its field with the text kept,
a job's result readable, the API schema readable in a browser."""

from __future__ import annotations

import pytest
from django.urls import reverse

from core.models import Job
from grading.models import Submission
from tests.conftest import School, client_for
from tests.grading.test_views import HTMX, make_assignment

pytestmark = pytest.mark.django_db


def test_an_empty_answer_is_refused_at_its_field_and_keeps_the_text(school: School) -> None:
    question = make_assignment(school.course).questions.first()

    response = client_for(school.student).post(
        reverse("grading:answer_submit", args=[question.pk]), {f"q{question.pk}-answer": "   \n  "}, **HTMX
    )

    assert response.status_code == 422  # static/js/app.js swaps it in place of the question
    page = response.content.decode()
    assert 'data-testid="answer-error"' in page and "The answer is empty." in page
    assert f'aria-describedby="answer-error-{question.pk}"' in page
    assert ">   \n  </textarea>" in page
    assert not Submission.objects.exists()


def test_an_over_long_answer_keeps_the_text_at_the_field(school: School) -> None:
    question = make_assignment(school.course).questions.first()
    text = "frames " * 1500

    response = client_for(school.student).post(
        reverse("grading:answer_submit", args=[question.pk]), {f"q{question.pk}-answer": text}, **HTMX
    )

    assert response.status_code == 422
    assert "the limit is 10,000" in response.content.decode() and text.strip() in response.content.decode()


def test_a_job_result_is_shown_as_labelled_rows(school: School) -> None:
    job = Job.objects.create(
        kind="grading.retrain",
        title="Train the grader",
        created_by=school.admin,
        status=Job.Status.SUCCEEDED,
        result={"version": "grader-1", "activated": True, "metrics": {"heldout": {"accuracy": 0.81234}}, "ids": [3, 4]},
    )

    page = client_for(school.admin).get(reverse("core:job_detail", args=[job.pk])).content.decode()

    assert "<dt>Version</dt><dd>grader-1</dd>" in page
    assert "<dt>Activated</dt><dd>yes</dd>" in page
    assert "<dt>Metrics › Heldout › Accuracy</dt><dd>0.812</dd>" in page
    assert "<dt>Ids</dt><dd>3, 4</dd>" in page
    assert "{&#x27;" not in page and "{'" not in page  # no raw Python dict


def test_the_api_schema_reads_in_a_browser_and_stays_yaml_for_clients(school: School) -> None:
    client = client_for(school.teacher)

    browser = client.get("/api/schema/", HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    tool = client.get("/api/schema/")

    assert browser["Content-Type"] == "text/plain; charset=utf-8"
    assert browser["Content-Disposition"] == "inline"
    assert browser.content.decode().startswith("openapi:")
    assert tool["Content-Type"].startswith("application/vnd.oai.openapi")


def test_the_models_page_explains_the_built_in_default_and_asks_for_no_command(school: School) -> None:
    page = client_for(school.admin).get(reverse("models_runtime:index")).content.decode()

    assert 'data-testid="built-in-default-note"' in page and "Built-in default</strong>: no version was chosen" in page
    assert 'href="#built-in-default-note"' in page
    assert "train_grader" not in page and "none yet: the first grader is prepared in the background" in page


def test_problem_cards_say_resume_or_solved(school: School) -> None:
    from tests.tutor.factories import ProblemFactory
    from tutor.models import TutorSession
    from tutor.services import session_start

    open_problem, solved_problem, new_problem = (
        ProblemFactory(course=school.course, is_assigned=True) for _ in range(3)
    )
    session_start(problem=open_problem, student=school.student)
    solved, _ = session_start(problem=solved_problem, student=school.student)
    TutorSession.objects.filter(pk=solved.pk).update(status=TutorSession.Status.SOLVED)

    page = client_for(school.student).get(reverse("tutor:index")).content.decode()

    cards = {
        problem.title: page.split(problem.title, 1)[1].split("</article>", 1)[0]
        for problem in (open_problem, solved_problem, new_problem)
    }
    assert 'data-testid="resume"' in cards[open_problem.title]
    assert 'data-testid="solved"' in cards[solved_problem.title] and "Practise it again" in cards[solved_problem.title]
    assert ">Start</button>" in cards[new_problem.title] and 'data-testid="solved"' not in cards[new_problem.title]
