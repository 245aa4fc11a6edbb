from __future__ import annotations

import pytest

from tests.accounts.factories import PASSWORD
from tests.conftest import School

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


@pytest.mark.parametrize(
    ("role", "title", "nav_labels"),
    [
        ("student", "Hello, ", ["Dashboard", "Tutor", "Grading"]),
        ("teacher", "Teacher dashboard", ["Dashboard", "Tutor", "Grading", "Coaching"]),
        (
            "admin",
            "Admin dashboard",
            ["Dashboard", "Tutor", "Grading", "Coaching", "Data sets", "Models", "Distillation", "System", "Privacy"],
        ),
    ],
)
def test_each_role_logs_in_and_sees_its_dashboard(page, school: School, role, title, nav_labels) -> None:
    user = getattr(school, role)
    log_in(page, user.username)
    heading = page.get_by_test_id("dashboard-title")
    assert title in heading.inner_text()
    labels = [text.strip() for text in page.locator("#main-nav > li > a").all_inner_texts()]
    assert labels == nav_labels
    assert page.console_errors == []  # no CSP violation, no script error


def test_wrong_password_shows_a_message(page, school: School) -> None:
    log_in(page, school.student.username, "not-the-password")
    assert "Please enter a correct username and password" in page.get_by_test_id("login-error").inner_text()
    assert page.url.endswith("/accounts/login/")


def test_student_opening_a_teacher_url_is_refused(page, school: School) -> None:
    log_in(page, school.student.username)
    page.get_by_test_id("dashboard-title").wait_for()
    response = page.goto("/coaching/")
    assert response.status == 403
    assert "This page is for admins and teachers only." in page.get_by_test_id("error-page").inner_text()


def test_logout_from_the_menu(page, school: School) -> None:
    log_in(page, school.teacher.username)
    page.locator("details.dropdown summary").click()
    page.get_by_test_id("logout").click()
    page.wait_for_url("**/accounts/login/")
    page.goto("/")
    assert "/accounts/login/" in page.url


def test_dashboard_fits_a_phone_screen(browser, live_server, school: School) -> None:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    log_in(page, school.admin.username)
    page.get_by_test_id("dashboard-title").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # The menu is folded behind a toggle on a phone, and opens on a tap.
    assert not page.locator("#main-nav").is_visible()
    page.locator("label.nav-toggle-label").click()
    assert page.locator("#main-nav").is_visible()
    context.close()
