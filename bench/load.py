"""Load: 50 simulated people for 60 s against a running Tutorloop (loopback only), with locust.

    .venv/bin/python bench/load.py --host http://127.0.0.1:8000 [--users 50] [--seconds 60]

Start the server first (`make run`, or uvicorn + a worker on the demo seed). Three kinds of people:
students chatting with the tutor over the API (start a session, send a message, read the reply's
stream to its end), teachers working the review queue (pages, the grades API, accepting a grade), and
students opening pages and the API. Prints requests per second, p50/p95/p99 per kind of request
(page, api, chat: the message and stream requests; reply: a message and its whole streamed reply,
end to end; login: the sign-in page and its post, apart because each hashes a password, PBKDF2 with
Django's 1,000,000 iterations, once per person per day) and the errors. Times are the client's.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from urllib.parse import urlsplit

import gevent
from locust import HttpUser, between, events, task
from locust.env import Environment

PASSWORD = "tutorloop-demo"
STUDENTS = ("ada", "ben", "cleo")
STUDENT_TEXTS = ("I think it is 7.", "I added them first?", "Is it 10?", "I am not sure where to start.")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

timings: dict[str, list[float]] = defaultdict(list)
timings_by_name: dict[str, list[float]] = defaultdict(list)
errors: Counter[str] = Counter()
statuses: Counter[int] = Counter()


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None, exception=None, **kwargs) -> None:
    kind = name.split(":", 1)[0]
    timings[kind].append(response_time)
    timings_by_name[name].append(response_time)
    if response is not None and getattr(response, "status_code", None):
        statuses[response.status_code] += 1
    if exception is not None:
        errors[f"{name}: {str(exception)[:120]}"] += 1


signed_in = 0


def _signed_in() -> None:
    """One more simulated person has signed in (their on_start is over)."""
    global signed_in
    signed_in += 1


def _session_login(user: HttpUser, username: str) -> None:
    page = user.client.get("/accounts/login/", name="login: page")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    user.client.post(
        "/accounts/login/",
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1) if token else ""},
        headers={"Referer": f"{user.host}/accounts/login/"},
        name="login: post",
    )


class StudentChatting(HttpUser):
    """A student in a tutoring session over the API: each message's reply is read to the end of its stream."""

    weight = 2
    wait_time = between(3, 8)

    def on_start(self) -> None:
        username = random.choice(STUDENTS)
        token = self.client.post(
            "/api/auth/token/", json={"username": username, "password": PASSWORD}, name="api: token"
        ).json()["token"]
        self.client.headers["Authorization"] = f"Token {token}"
        problems = self.client.get("/api/tutor/problems/", name="api: problems").json()["results"]
        self.problem_ids = [problem["id"] for problem in problems] or [0]
        _signed_in()
        self.session_id: int | None = None

    @task
    def chat(self) -> None:
        if self.session_id is None:
            response = self.client.post(
                "/api/tutor/sessions/", json={"problem": random.choice(self.problem_ids)}, name="api: session start"
            )
            if response.status_code not in (200, 201):
                return
            self.session_id = response.json()["id"]
        started = time.perf_counter()
        with self.client.post(
            f"/api/tutor/sessions/{self.session_id}/messages/",
            json={"text": random.choice(STUDENT_TEXTS)},
            name="chat: message",
            catch_response=True,
        ) as response:
            if response.status_code == 409 or response.status_code == 400:
                # The session ended (solved, or the reply limit): start another next time.
                self.session_id = None
                response.success()
                return
            if response.status_code == 429:
                # The product's per-student message limit: the simulated students share three demo accounts,
                # so they reach it together. An answer, not an error; counted in the statuses.
                response.success()
                return
            if response.status_code != 201:
                return
            stream_url = response.json()["reply"].get("stream_url")
        if stream_url:
            with self.client.get(
                stream_url,
                headers={"Accept": "text/event-stream"},
                stream=True,
                name="chat: reply stream",
                catch_response=True,
            ) as stream:
                body = b"".join(stream.iter_content(chunk_size=None))
                if b"event: done" not in body and b"event: error" not in body:
                    stream.failure("the stream ended without a done event")
        events.request.fire(
            request_type="CHAT",
            name="reply: message and its whole streamed reply",
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=None,
            context={},
        )


class TeacherReviewing(HttpUser):
    weight = 1
    wait_time = between(1, 4)

    def on_start(self) -> None:
        _session_login(self, "teacher")
        assignments = self.client.get("/api/grading/assignments/", name="api: assignments").json()["results"]
        self.assignment_ids = [assignment["id"] for assignment in assignments]
        _signed_in()

    @task(3)
    def review_page(self) -> None:
        for assignment_id in self.assignment_ids[:1]:
            self.client.get(f"/grading/assignments/{assignment_id}/review/", name="page: review queue")

    @task(2)
    def grades_api(self) -> None:
        for assignment_id in self.assignment_ids[:1]:
            grades = self.client.get(f"/api/grading/assignments/{assignment_id}/grades/", name="api: grades").json()
            waiting = [grade for grade in grades.get("results", []) if grade.get("status") == "awaiting_review"]
            if waiting:
                self.client.post(
                    f"/api/grading/grades/{random.choice(waiting)['id']}/accept/",
                    headers={"X-CSRFToken": self.client.cookies.get("csrftoken", "")},
                    name="api: accept grade",
                )

    @task(1)
    def pages(self) -> None:
        self.client.get("/", name="page: dashboard")
        self.client.get("/grading/", name="page: grading")
        self.client.get("/tutor/dashboard/", name="page: tutor dashboard")


class StudentBrowsing(HttpUser):
    weight = 2
    wait_time = between(1, 3)

    def on_start(self) -> None:
        _session_login(self, random.choice(STUDENTS))
        _signed_in()

    @task(3)
    def pages(self) -> None:
        self.client.get("/", name="page: dashboard")
        self.client.get("/tutor/", name="page: tutor")
        self.client.get("/grading/", name="page: grading")

    @task(2)
    def api(self) -> None:
        self.client.get("/api/me/", name="api: me")
        self.client.get("/api/courses/", name="api: courses")
        self.client.get("/api/grading/grades/released/", name="api: released grades")


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="http://127.0.0.1:8000")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument(
        "--from-first-request",
        action="store_true",
        help="time from the first request, sign-ins included (default: the timed window opens once everyone signed in)",
    )
    args = parser.parse_args()
    if urlsplit(args.host).hostname not in LOOPBACK:
        parser.error("bench/load.py only loads a server on this machine (127.0.0.1, localhost or ::1).")

    environment = Environment(
        user_classes=[StudentChatting, TeacherReviewing, StudentBrowsing], host=args.host, events=events
    )
    runner = environment.create_local_runner()
    started = time.perf_counter()
    runner.start(args.users, spawn_rate=args.spawn_rate)
    sign_in_seconds = None
    if not args.from_first_request:
        # Everyone signs in first (each sign-in hashes a password: a burst of CPU no page shares with a
        # working lesson); the timed window opens when the last person is in. Sign-ins stay in "login".
        deadline = time.perf_counter() + 600
        while signed_in < args.users and time.perf_counter() < deadline:
            gevent.sleep(0.2)
        sign_in_seconds = time.perf_counter() - started
        for kind in list(timings):
            if kind != "login":
                timings[kind].clear()
        for name in list(timings_by_name):
            if not name.startswith("login"):
                timings_by_name[name].clear()
        started = time.perf_counter()
    gevent.spawn_later(args.seconds, runner.quit)
    runner.greenlet.join()
    elapsed = time.perf_counter() - started

    # "reply" is a timing over two requests (a message and its stream), not a request of its own.
    # In the default mode the sign-ins happened before the window: they are not in its rate.
    excluded = {"reply"} if sign_in_seconds is None else {"reply", "login"}
    requests = sum(len(values) for kind, values in timings.items() if kind not in excluded)
    if sign_in_seconds is not None:
        print(f"\n{signed_in} of {args.users} users signed in after {sign_in_seconds:.0f} s; timed from then on")
    print(f"\n{args.users} users, {elapsed:.0f} s against {args.host}: {requests / elapsed:.1f} requests/s")
    print(f"{'kind':<8}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for kind in sorted(timings):
        values = timings[kind]
        print(
            f"{kind:<8}{len(values):>8}{_percentile(values, 50):>10.0f}{_percentile(values, 95):>10.0f}"
            f"{_percentile(values, 99):>10.0f}"
        )
    print(f"\n{'request':<48}{'count':>8}{'p50 ms':>10}{'p95 ms':>10}")
    for name in sorted(timings_by_name):
        values = timings_by_name[name]
        print(f"{name:<48}{len(values):>8}{_percentile(values, 50):>10.0f}{_percentile(values, 95):>10.0f}")
    print("statuses:", dict(sorted(statuses.items())))
    total_errors = sum(errors.values())
    print(f"errors: {total_errors}")
    for error, count in errors.most_common(10):
        print(f"  {count} x {error}")
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
