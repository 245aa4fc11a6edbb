"""A school's first run: from `make run` printing its address to a teacher grading the demo assignment.

    .venv/bin/python bench/first_run.py [--clone /tmp/first-clone] [--port 8090] [--model-port 8091]
                                        [--timeout 900] [--json out.json]

Issue 17's aim: on a fresh clone, within two minutes of `make run` printing "Serving Tutorloop at", a
teacher can grade and review the demo assignment. This script:

1. clones this repository (`git clone`, committed files only) into `--clone` (a new directory), and
   links the clone's `.venv` to this checkout's virtualenv, with the requirements files dated before its
   install stamps, so `make` installs nothing: the install is not what is timed (it is reported apart
   in the README and decision 0008), and everything `make run` makes at first start is: the SQLite
   database and broker under the clone's `var/`, the seed, the model files the model server converts,
   the first grader's quick fit and the grading of the demo answers;
2. runs `make run PORT=<port>` there with a clean environment (no DATABASE_URL, CELERY_BROKER_URL or
   MODEL_* variables from this shell, so the clone uses its own SQLite files) and MODEL_SERVER_URL on
   `--model-port`, so its model server cannot be confused with another one on this machine;
3. from the line "Serving Tutorloop at", as the demo teacher (the seed's printed login): polls the demo
   assignment's page until "Grade all answers" is enabled (a: the grader is available), then follows the
   grading job the first grader started for the demo assignment, or presses "Grade all answers" if none
   is running and answers are ungraded, until every current answer has a grade (b);
4. prints the figures as JSON (seconds from "Serving Tutorloop at", the load average before and after,
   where each grade's feedback came from), and stops `make run`.

Nothing of the checkout it runs from is written: the clone has its own `var/`. The figures depend on the
machine's load; `uptime` is recorded beside them.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SERVING = "Serving Tutorloop at"
POLL_SECONDS = 2.0  # each poll renders a page and two API reads: on 2 busy cores the poller's own load counts
TEACHER = ("teacher", "tutorloop-demo")  # datasets_admin/demo.py's printed demo login
DEMO_TITLE = "Networking short answers"  # the demo assignment (datasets_admin/demo.py)
# Variables of this shell that would point the clone at someone else's database, broker or model server.
DROPPED_ENV = re.compile(r"^(DATABASE_URL|CELERY_|MODEL_|MODELS_DIR|OPENAI_|TUTORLOOP_|DJANGO_SETTINGS_MODULE$|PORT$)")


def log(message: str) -> None:
    print(f"[first_run {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def clone(target: Path) -> None:
    if target.exists():
        raise SystemExit(f"{target} exists: give a new --clone directory (a first run needs a fresh clone)")
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    venv = ROOT / ".venv"
    if not (venv / "bin" / "llama-server").is_file():
        raise SystemExit(f"{venv} has no llama-server: run `make install` here first")
    (target / ".venv").symlink_to(venv)
    # Older than the install stamps, so `make run` sees the virtualenv as installed for them.
    for name in ("requirements.txt", "requirements-dev.txt"):
        os.utime(target / name, (0, 0))


def start(target: Path, port: int, model_port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not DROPPED_ENV.match(key)}
    env["MODEL_SERVER_URL"] = f"http://127.0.0.1:{model_port}/v1"
    with log_path.open("wb") as out:
        return subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=target,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole at the end
        )


def wait_for_line(log_path: Path, process: subprocess.Popen[bytes], text: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log_path.read_text(errors="replace"):
            return time.monotonic()
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"make run stopped ({process.returncode}):\n{tail}")
        time.sleep(0.1)
    raise SystemExit(f"no “{text}” within {timeout:g} s:\n{log_path.read_text(errors='replace')[-3000:]}")


class Teacher:
    """The demo teacher in a browser-like session (cookies, CSRF) and with an API token."""

    def __init__(self, base: str):
        self.base = base
        self.web = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
        self.api = httpx.Client(base_url=base, timeout=60)

    def sign_in(self, deadline: float) -> None:
        while True:
            try:
                page = self.web.get("/accounts/login/")
                if page.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the login page did not answer")
            time.sleep(0.5)
        signed = self.web.post(
            "/accounts/login/",
            data={"username": TEACHER[0], "password": TEACHER[1], "csrfmiddlewaretoken": self._csrf(page.text)},
            headers={"Referer": f"{self.base}/accounts/login/"},
        )
        if signed.status_code != 302:
            raise SystemExit(f"signing in as the demo teacher failed: HTTP {signed.status_code}")
        token = self.api.post("/api/auth/token/", json={"username": TEACHER[0], "password": TEACHER[1]})
        token.raise_for_status()
        self.api.headers["Authorization"] = f"Token {token.json()['token']}"

    @staticmethod
    def _csrf(html: str) -> str:
        found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        if not found:
            raise SystemExit("no CSRF token on the page")
        return found.group(1)

    def demo_assignment(self) -> dict[str, Any]:
        listing = self.api.get("/api/grading/assignments/").json()
        rows = listing["results"] if isinstance(listing, dict) else listing
        for row in rows:
            if row.get("title") == DEMO_TITLE:
                return dict(row)
        raise SystemExit(f"the demo teacher has no assignment “{DEMO_TITLE}”")

    def page(self, assignment_id: int) -> str:
        return self.web.get(f"/grading/assignments/{assignment_id}/").text

    def grade_all(self, assignment_id: int, html: str) -> str | None:
        """Press "Grade all answers"; the job's id, or None when it was refused (e.g. a job runs already)."""
        response = self.web.post(
            f"/grading/assignments/{assignment_id}/grade/",
            data={"csrfmiddlewaretoken": self._csrf(html)},
            headers={"Referer": f"{self.base}/grading/assignments/{assignment_id}/"},
        )
        found = re.search(r"/jobs/([0-9a-f-]{36})/", response.headers.get("location", ""))
        return found.group(1) if found else None

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.api.get(f"/api/jobs/{job_id}/").json())

    def grades(self, assignment_id: int) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        url: str | None = f"/api/grading/assignments/{assignment_id}/grades/?page_size=200"
        while url:
            body = self.api.get(url).json()
            rows += body["results"] if isinstance(body, dict) else body
            url = body.get("next") if isinstance(body, dict) else None
        return rows


def grader_ready(html: str) -> bool:
    button = re.search(r'<button[^>]*data-testid="grade-all"[^>]*>', html)
    return button is not None and "disabled" not in button.group(0)


def active_job_id(html: str) -> str | None:
    found = re.search(r"/jobs/([0-9a-f-]{36})/", html)
    return found.group(1) if found else None


def measure(base: str, serving_at: float, answers: int, timeout: float) -> dict[str, Any]:
    deadline = serving_at + timeout
    teacher = Teacher(base)
    teacher.sign_in(deadline)
    assignment = teacher.demo_assignment()
    assignment_id = int(assignment["id"])
    log(f"signed in as the demo teacher at +{time.monotonic() - serving_at:.1f} s; assignment {assignment_id}")
    figures: dict[str, Any] = {"assignment": assignment.get("title")}
    html = ""
    while time.monotonic() < deadline:
        html = teacher.page(assignment_id)
        if grader_ready(html):
            figures["grader_available_seconds"] = round(time.monotonic() - serving_at, 1)
            break
        time.sleep(POLL_SECONDS)
    else:
        raise SystemExit("the grader did not become available in time")
    log(f"(a) the grader is available at +{figures['grader_available_seconds']} s")
    pressed = False
    job_id: str | None = None
    while time.monotonic() < deadline:
        grades = teacher.grades(assignment_id)
        if len(grades) >= answers:
            break
        html = teacher.page(assignment_id)
        job_id = active_job_id(html) or job_id
        if job_id is None and not pressed:
            job_id = teacher.grade_all(assignment_id, html)
            pressed = True
            log(f"pressed “Grade all answers” at +{time.monotonic() - serving_at:.1f} s (job {job_id})")
        if job_id is not None:
            job = teacher.job(job_id)
            if job.get("status") in ("failed", "cancelled"):
                raise SystemExit(f"the grading job {job.get('status')}: {job.get('error')}")
        time.sleep(POLL_SECONDS)
    else:
        raise SystemExit("the demo answers were not all graded in time")
    figures["all_graded_seconds"] = round(time.monotonic() - serving_at, 1)
    figures["pressed_grade_all"] = pressed
    figures["grades"] = len(grades)
    provenances = [grade.get("provenance") or {} for grade in grades]
    sources = collections.Counter(str(provenance.get("feedback_source", "none")) for provenance in provenances)
    figures["feedback_sources"] = dict(sources)
    figures["feedback_model_unavailable"] = sum(
        1 for grade in grades if (grade.get("provenance") or {}).get("feedback_model_unavailable")
    )
    log(f"(b) all {len(grades)} answers graded at +{figures['all_graded_seconds']} s; feedback: {dict(sources)}")
    return figures


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clone", type=Path, default=None, help="a new directory for the clone (default: a temp dir)")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--model-port", type=int, default=8091)
    parser.add_argument("--answers", type=int, default=12, help="the demo assignment's answers (the seed's 12)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up this long after the address line")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the clone afterwards")
    options = parser.parse_args()
    target = options.clone or Path(tempfile.mkdtemp(prefix="tutorloop-first-run-")) / "clone"
    clone(target)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=target, capture_output=True, text=True)
    log_path = target.parent / f"{target.name}-make-run.log"
    figures: dict[str, Any] = {"commit": commit.stdout.strip(), "clone": str(target), "log": str(log_path)}
    figures["uptime_before"] = uptime()
    load: list[float] = []
    process = start(target, options.port, options.model_port, log_path)
    try:
        started = time.monotonic()
        serving_at = wait_for_line(log_path, process, SERVING, timeout=3600)
        figures["make_run_to_address_seconds"] = round(serving_at - started, 1)
        figures["uptime_at_address"] = uptime()
        log(f"“{SERVING}” after {figures['make_run_to_address_seconds']} s; {figures['uptime_at_address']}")
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(5):
                load.append(os.getloadavg()[0])

        threading.Thread(target=sample, daemon=True).start()
        figures.update(measure(f"http://127.0.0.1:{options.port}", serving_at, options.answers, options.timeout))
        sampling.set()
    finally:
        figures["uptime_after"] = uptime()
        if load:
            figures["load_1min_during"] = {"min": min(load), "max": max(load), "mean": round(sum(load) / len(load), 2)}
        stop(process)
        if not options.keep:
            shutil.rmtree(target, ignore_errors=True)
    print(json.dumps(figures, indent=2))
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
