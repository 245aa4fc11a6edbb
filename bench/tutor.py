"""The tutor's reply as students get it, through the model server, against the model server called directly.

    .venv/bin/python bench/tutor.py [--rounds 3] [--max-new-tokens 48] [--students 8] [--threads 0]

As `make run` runs the product: the one model server (`manage.py model_server`: llama.cpp's
llama-server) and the app served by uvicorn (ASGI), here on a throwaway SQLite database, the web
process reaching the model server over HTTP (MODEL_SERVER_URL). Web path: each student posts a
message to the API, then reads the reply's server-sent event stream (`GET .../stream/`): the first
`piece` event is the first word the student sees, `done` the whole reply. Direct path:
`models_runtime.api.chat_stream` through the same model server with exactly the prompt the app built
for that reply (same model, greedy, same token budget).

What the student waits for is printed per round and in `student_waits`: from sending the message
(the post) to the first word and to the whole reply, for one student alone and for `--students` at
once, against the aims (first word under 1.5 s, whole reply under 5 s, with 8 students). All the
students work on the same problem, as a class does, so after the first turn the model server finds
the prompt's start (the system prompt and the problem) in its prompt cache.

Per round: one student on the web path then the direct path, then all the students at once on the web
path then on the direct path. The direct path runs second on exactly the prompts the web path has just
sent, so the model server finds them in its prompt cache: the direct figures are the floor (HTTP, the
chat template and one decode step), not a second cold generation. Time to first token
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


def write_settings(max_new_tokens: int, model_server_port: int, threads: int) -> dict[str, str]:
    """Settings for every process: the test settings, a throwaway database, this token budget, and the
    model server where the bench starts it."""
    (WORK / f"{SETTINGS_MODULE}.py").write_text(
        "from config.settings.test import *  # noqa: F403\n"
        f"TUTOR_MAX_NEW_TOKENS = {max_new_tokens}\n"
        f"MODEL_SERVER_URL = 'http://127.0.0.1:{model_server_port}/v1'\n"
        f"MODEL_SERVER_THREADS = {threads}\n"
        "TUTOR_MESSAGES_PER_MINUTE = 1000\n"
        "ALLOWED_HOSTS = ['127.0.0.1', 'localhost']\n"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
        "PYTHONPATH": os.pathsep.join([str(WORK), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "DATABASE_URL": f"sqlite:///{WORK / 'bench.sqlite3'}",
        "TUTORLOOP_VAR_DIR": str(WORK / "var"),
        "MODELS_DIR": os.environ.get("MODELS_DIR") or str(bench_models_dir()),
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)
    sys.path[:0] = [str(WORK), str(ROOT)]
    return env


def bench_models_dir() -> Path:
    """The bench's own MODELS_DIR, so that `manage.py model_server` writes its preset (model-server.ini) here and
    never rewrites the running product's under var/models. The converted student and its q8_0 file (written
    once, only read after) are linked from var/models where they exist, so nothing is converted again."""
    models = WORK / "models"
    (models / "gguf").mkdir(parents=True, exist_ok=True)
    shared = ROOT / "var" / "models"
    for relative in ("smollm2-135m-instruct", "gguf/smollm2-135m-instruct.q8_0.gguf"):
        if (shared / relative).exists() and not (models / relative).exists():
            (models / relative).symlink_to(shared / relative)
    return models


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
    parser.add_argument("--threads", type=int, default=0, help="the model server's CPU threads (0: half the cores)")
    args = parser.parse_args()
    model_port = free_port()
    env = write_settings(args.max_new_tokens, model_port, args.threads)

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

    model_log = (WORK / "model_server.log").open("wb")
    model_process = subprocess.Popen(
        [sys.executable, "manage.py", "model_server"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=model_log,
        stderr=subprocess.STDOUT,
    )
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
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{model_port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or model_process.poll() is not None:
                raise SystemExit(f"the model server did not start; see {WORK / 'model_server.log'}")
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
            done = time.monotonic()
            # The app's writer records, from its start, when the model gave its first piece and when the gate
            # first showed one: the same generation seen from inside the server, so the difference between the
            # latter and the client's TTFT is what the web path adds.
            provenance = Turn.objects.get(pk=turn_id).provenance
            inside = provenance.get("first_piece_seconds")
            return {
                "ttft": (first or done) - started,
                "whole": done - started,
                "span": (last or 0) - (first or 0),
                "text": text,
                "inside_ttft": inside,
                "inside_model_ttft": provenance.get("first_token_seconds"),
                # Whether the reply kept the model's text, and whether the reply's time budget stopped the model
                # (the plan's text then streamed instead, or completed what the model had shown).
                "source": provenance.get("source", ""),
                "timed_out": bool(provenance.get("timed_out")),
            }

        def student_turn(index: int, text: str) -> dict[str, Any]:
            """One student sends a message and reads the reply: what they wait for, from pressing send."""
            turn_id, post_seconds = post(index, text)
            run = web_stream(index, turn_id)
            return {
                **run,
                "turn_id": turn_id,
                "post_seconds": post_seconds,
                "first_word_after_send": post_seconds + run["ttft"],
                "whole_reply_after_send": post_seconds + run["whole"],
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
            # A reply the gate let out at once (one checked sentence) has no rate of its own: left out.
            rates = [(count_tokens(run["text"]) - 1) / run["span"] for run in runs if run["span"] > 0.2 and run["text"]]
            return sum(rates) / len(rates) if rates else float("nan")

        log(f"warming up (model load in both processes), work dir {WORK}")
        turn_id, _ = post(0, "hello, I got 4")
        web_stream(0, turn_id)
        models.chat(task=TASK, messages=[{"role": "user", "content": "hi"}], max_new_tokens=2)

        rounds: list[dict[str, Any]] = []
        for round_number in range(args.rounds):
            text = messages_by_round[round_number % len(messages_by_round)]
            row: dict[str, Any] = {}
            # One student: the web path, then the direct path on the same prompt (which the model server then
            # finds whole in its prompt cache: the direct figures are the floor, HTTP and one decode step).
            web = [student_turn(0, text)]
            direct = [direct_stream(web[0]["turn_id"])]
            row["single"] = {"direct": direct, "web": web, "post_seconds": web[0]["post_seconds"]}
            # All the students at once, each sending their message and reading the reply as a browser does;
            # then the direct path on the same prompts, all at once.
            web_many = together(student_turn, [(index, text) for index in range(args.students)])
            direct_many = together(direct_stream, [(run["turn_id"],) for run in web_many])
            row["concurrent"] = {"direct": direct_many, "web": web_many}
            rounds.append(row)
            log(
                f"round {round_number + 1}: TTFT 1 stream web {web[0]['ttft']:.2f}s direct {direct[0]['ttft']:.2f}s; "
                f"{args.students} streams web {median([r['ttft'] for r in web_many]):.2f}s "
                f"direct {median([r['ttft'] for r in direct_many]):.2f}s; after send, 1 student: first word "
                f"{web[0]['first_word_after_send']:.2f}s, whole reply {web[0]['whole_reply_after_send']:.2f}s; "
                f"{args.students} students: first word median "
                f"{median([r['first_word_after_send'] for r in web_many]):.2f}s "
                f"max {max(r['first_word_after_send'] for r in web_many):.2f}s, whole reply median "
                f"{median([r['whole_reply_after_send'] for r in web_many]):.2f}s "
                f"max {max(r['whole_reply_after_send'] for r in web_many):.2f}s"
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

        def waits(kind: str) -> dict[str, Any]:
            runs = [run for row in rounds for run in row[kind]["web"]]
            first = [run["first_word_after_send"] for run in runs]
            whole = [run["whole_reply_after_send"] for run in runs]
            return {
                "students": 1 if kind == "single" else args.students,
                "first_word_seconds": {"median": round(median(first), 3), "max": round(max(first), 3)},
                "whole_reply_seconds": {"median": round(median(whole), 3), "max": round(max(whole), 3)},
                "model_text_kept": round(sum(run["source"] in ("model", "model+plan") for run in runs) / len(runs), 3),
                "model_stopped_by_the_time_budget": round(sum(run["timed_out"] for run in runs) / len(runs), 3),
            }

        concurrent_waits = waits("concurrent")
        results = {
            "rounds": args.rounds,
            "max_new_tokens": args.max_new_tokens,
            "model": version_for_task(TASK).name,
            "server": "uvicorn (ASGI), SQLite; the model server (llama-server) over HTTP",
            "model_server_threads": args.threads,
            "load_average": [round(load, 2) for load in os.getloadavg()],
            "student_waits": {"one_student": waits("single"), "all_students": concurrent_waits},
            "targets_met": {
                f"first word < 1.5 s with {args.students} students (max)": concurrent_waits["first_word_seconds"]["max"]
                < 1.5,
                f"whole reply < 5 s with {args.students} students (max)": concurrent_waits["whole_reply_seconds"]["max"]
                < 5,
            },
            "one_stream": figures("single"),
            "concurrent": figures("concurrent"),
            "post_seconds_median": round(median([row["single"]["post_seconds"] for row in rounds]), 3),
            "web_ttft_added_percent_same_generation": round(
                100 * (figures("single")["web_ttft_over_same_generation_model_ttft"] - 1), 1
            ),
        }
    finally:
        for process in (server, model_process):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        server_log.close()
        model_log.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
