"""The tutor's reply through the whole web path against the model backend called directly, in one run.

    .venv/bin/python bench/tutor.py [--rounds 3] [--max-new-tokens 48] [--students 8]

Web path: the app served by uvicorn (ASGI) on a throwaway SQLite database; each student posts a
message to the API, then reads the reply's server-sent event stream (`GET .../stream/`): the first
`piece` event is the first token the student sees. Direct path: `models_runtime.api.chat_stream`
with exactly the prompt the app built for that reply (same model, greedy, same token budget).

Per round: one stream on each path, then 8 concurrent students on each path. Time to first token
(TTFT) and tokens per second (tokens streamed, counted with the model's tokenizer, over the time from
the first to the last piece) are compared within a round; the ratios' median over rounds is printed
as JSON. The web TTFT is measured from the stream request; the message post before it is reported
apart (`post_seconds`). On a busy machine two generations' TTFT can differ by a factor of three, so
the run also reports, per web request, the client's TTFT over the model's TTFT inside the server for
that same generation (the writer stores it in the turn's provenance): what the web path itself adds.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(tempfile.mkdtemp(prefix="tutor-bench-"))
SETTINGS_MODULE = "tutor_bench_settings"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_settings(max_new_tokens: int) -> dict[str, str]:
    """Settings for both processes: the test settings, a throwaway database, this token budget."""
    (WORK / f"{SETTINGS_MODULE}.py").write_text(
        "from config.settings.test import *  # noqa: F403\n"
        f"TUTOR_MAX_NEW_TOKENS = {max_new_tokens}\n"
        "TUTOR_MESSAGES_PER_MINUTE = 1000\n"
        "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']\n"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "PYTHONPATH": os.pathsep.join([str(WORK), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "DATABASE_URL": f"sqlite:///{WORK / 'bench.sqlite3'}",
        "TUTORLOOP_VAR_DIR": str(WORK / "var"),
        "MODELS_DIR": os.environ.get("MODELS_DIR", str(ROOT / "var" / "models")),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    sys.path[:0] = [str(WORK), str(ROOT)]
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--students", type=int, default=8)
    args = parser.parse_args()
    env = write_settings(args.max_new_tokens)

    import logging

    import django

    django.setup()
    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from accounts.models import Course, Enrollment, Role, User
    from models_runtime import api as models
    from models_runtime.registry import model_dir_for, version_for_task
    from tutor.models import Problem, Turn
    from tutor.policy.plan import plan_from_dict
    from tutor.replies import STOP, TASK, reply_prompt
    from tutor.services import session_start

    call_command("migrate", verbosity=0)
    course = Course.objects.create(code="bench", name="Bench")
    statement = (
        "Julia was preparing for a dinner party. She bought a package of spoons, her husband gave her a package "
        "of 5 spoons, and she used 3 spoons to taste her stew. When she set the table she had 12 spoons. How many "
        "spoons were in the package that Julia bought?"
    )
    solution = "Together they had 12+3=15 spoons.\nJulia's package had 15-5=10 spoons.\n 10"
    problem = Problem.objects.create(
        course=course,
        title="Spoons",
        statement=statement,
        worked_solution=solution,
        final_answer="10",
        is_assigned=True,
    )
    students, tokens, sessions = [], [], []
    for index in range(args.students):
        student = User.objects.create_user(username=f"bench{index}", password="x" * 16, role=Role.STUDENT)
        student.first_name = f"Student{index}"
        student.save()
        Enrollment.objects.create(course=course, student=student)
        students.append(student)
        tokens.append(Token.objects.create(user=student).key)
        sessions.append(session_start(student=student, problem=problem)[0])

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir_for(version_for_task(TASK))), local_files_only=True)

    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_log = (WORK / "uvicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "config.asgi:application", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    results: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"uvicorn did not start; see {WORK / 'uvicorn.log'}")
            time.sleep(0.3)
        messages_by_round = [
            "I got 4 because 12 - 3 = 9 and 9 - 5 = 4",
            "I think she used 3 so 12 - 3 = 9",
            "Maybe 9 - 5 = 4 is wrong, so 7?",
            "Is it 8 spoons?",
            "Then 6 spoons",
        ]

        # One client for the run, as a browser keeps its connection: a new httpx client per request
        # costs ~30 ms of its own (it builds an SSL context), which is not the server's time.
        client = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=32, max_keepalive_connections=32))

        def post(index: int, text: str) -> tuple[int, float]:
            started = time.monotonic()
            response = client.post(
                f"{base}/api/tutor/sessions/{sessions[index].pk}/messages/",
                json={"text": text},
                headers={"Authorization": f"Token {tokens[index]}"},
                timeout=60,
            )
            response.raise_for_status()
            return int(response.json()["reply"]["id"]), time.monotonic() - started

        def web_stream(index: int, turn_id: int) -> dict[str, Any]:
            started = time.monotonic()
            first = last = None
            text = ""
            event = ""
            with client.stream(
                "GET",
                f"{base}/api/tutor/turns/{turn_id}/stream/",
                headers={"Authorization": f"Token {tokens[index]}", "Accept": "text/event-stream"},
                timeout=600,
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "piece":
                        now = time.monotonic()
                        first = first if first is not None else now
                        last = now
                        text += json.loads(line[6:])["text"]
                    elif line.startswith("data: ") and event == "done":
                        break
            # The app's writer records, from its start, when the model gave its first piece and when the gate
            # first showed one: the same generation seen from inside the server, so the difference between the
            # latter and the client's TTFT is what the web path adds.
            provenance = Turn.objects.get(pk=turn_id).provenance
            inside = provenance.get("first_piece_seconds")
            return {
                "ttft": (first or time.monotonic()) - started,
                "span": (last or 0) - (first or 0),
                "text": text,
                "inside_ttft": inside,
                "inside_model_ttft": provenance.get("first_token_seconds"),
            }

        def direct_stream(turn_id: int) -> dict[str, Any]:
            turn = Turn.objects.select_related("reply_to", "session__problem").get(pk=turn_id)
            plan = plan_from_dict(turn.provenance["policy"])
            template, prompt = reply_prompt(
                statement=turn.session.problem.statement,
                student_message=turn.reply_to.text if turn.reply_to else "",
                plan=plan,
            )
            started = time.monotonic()
            stream = models.chat_stream(
                task=TASK, messages=prompt, template=template, max_new_tokens=args.max_new_tokens, stop=STOP
            )
            first = last = None
            text = ""
            for piece in stream:
                now = time.monotonic()
                first = first if first is not None else now
                last = now
                text += piece
            return {"ttft": (first or time.monotonic()) - started, "span": (last or 0) - (first or 0), "text": text}

        def together(function: Any, arguments: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
            outcomes: list[dict[str, Any]] = [{} for _ in arguments]

            def one(position: int) -> None:
                outcomes[position] = function(*arguments[position])

            threads = [threading.Thread(target=one, args=(position,)) for position in range(len(arguments))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return outcomes

        def rate(runs: list[dict[str, Any]]) -> float:
            # Per stream: tokens after the first piece over the time they took; then the mean.
            rates = [(count_tokens(run["text"]) - 1) / run["span"] for run in runs if run["span"] > 0 and run["text"]]
            return sum(rates) / len(rates) if rates else float("nan")

        log(f"warming up (model load in both processes), work dir {WORK}")
        turn_id, _ = post(0, "hello, I got 4")
        web_stream(0, turn_id)
        models.chat(task=TASK, messages=[{"role": "user", "content": "hi"}], max_new_tokens=2)

        rounds: list[dict[str, Any]] = []
        for round_number in range(args.rounds):
            text = messages_by_round[round_number % len(messages_by_round)]
            row: dict[str, Any] = {}
            # The path that runs second finds the machine as the first left it (on two cores, the first
            # process's idle math threads still spinning): the order alternates between rounds.
            web_first = round_number % 2 == 1
            # One student: the web path and the direct path on the same prompt, one after the other.
            turn_id, post_seconds = post(0, text)
            if web_first:
                web = [web_stream(0, turn_id)]
                direct = [direct_stream(turn_id)]
            else:
                direct = [direct_stream(turn_id)]
                web = [web_stream(0, turn_id)]
            row["single"] = {"direct": direct, "web": web, "post_seconds": post_seconds}
            # Eight students at once.
            posted = [post(index, text) for index in range(args.students)]
            ids = [turn_id for turn_id, _ in posted]
            if web_first:
                web_many = together(web_stream, list(enumerate(ids)))
                direct_many = together(direct_stream, [(turn_id,) for turn_id in ids])
            else:
                direct_many = together(direct_stream, [(turn_id,) for turn_id in ids])
                web_many = together(web_stream, list(enumerate(ids)))
            row["concurrent"] = {"direct": direct_many, "web": web_many}
            rounds.append(row)
            log(
                f"round {round_number + 1}: TTFT 1 stream web {web[0]['ttft']:.2f}s direct {direct[0]['ttft']:.2f}s; "
                f"{args.students} streams web {median([r['ttft'] for r in web_many]):.2f}s "
                f"direct {median([r['ttft'] for r in direct_many]):.2f}s"
            )

        def figures(kind: str) -> dict[str, Any]:
            ttft_ratios, rate_ratios, web_ttft, direct_ttft, web_rate, direct_rate = [], [], [], [], [], []
            for row in rounds:
                web, direct = row[kind]["web"], row[kind]["direct"]
                web_t, direct_t = median([r["ttft"] for r in web]), median([r["ttft"] for r in direct])
                web_r, direct_r = rate(web), rate(direct)
                web_ttft.append(web_t)
                direct_ttft.append(direct_t)
                web_rate.append(web_r)
                direct_rate.append(direct_r)
                ttft_ratios.append(web_t / direct_t)
                rate_ratios.append(web_r / direct_r)
            web_runs = [run for row in rounds for run in row[kind]["web"]]
            timed = [run for run in web_runs if run.get("inside_ttft")]
            same_request = [run["ttft"] / run["inside_ttft"] for run in timed]
            added = [run["ttft"] - run["inside_ttft"] for run in timed]
            inside_model = [run["inside_model_ttft"] for run in web_runs if run.get("inside_model_ttft")]
            inside_gate = [run["inside_ttft"] for run in timed]
            return {
                "streams": 1 if kind == "single" else args.students,
                # Inside the server, from the reply's writer starting: the model's first piece, and the first
                # piece the gate let through (it holds back what may be the start of a number).
                "inside_server_seconds": {
                    "model_first_piece": round(median(inside_model), 3),
                    "gate_first_piece": round(median(inside_gate), 3),
                },
                # Per request: the TTFT the client saw over the model's TTFT inside the server, for the same
                # generation. Load from other work on the machine cancels out here; the cross-path ratios
                # below compare two separate generations.
                "web_ttft_over_same_generation_model_ttft": round(median(same_request), 3),
                "web_added_seconds_median": round(median(added), 3),
                "ttft_seconds": {"web": round(median(web_ttft), 3), "direct": round(median(direct_ttft), 3)},
                "tokens_per_second": {"web": round(median(web_rate), 2), "direct": round(median(direct_rate), 2)},
                "ttft_ratio_web_over_direct": round(median(ttft_ratios), 3),
                "tokens_per_second_ratio_web_over_direct": round(median(rate_ratios), 3),
            }

        results = {
            "rounds": args.rounds,
            "max_new_tokens": args.max_new_tokens,
            "model": version_for_task(TASK).name,
            "server": "uvicorn (ASGI), SQLite",
            "one_stream": figures("single"),
            "concurrent": figures("concurrent"),
            "post_seconds_median": round(median([row["single"]["post_seconds"] for row in rounds]), 3),
            "web_ttft_added_percent_same_generation": round(
                100 * (figures("single")["web_ttft_over_same_generation_model_ttft"] - 1), 1
            ),
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        server_log.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
