"""Fixtures of the reflection-question tests.

`scripted_server` is an OpenAI-compatible HTTP server that answers from a script: it stands in for a
GPU server (vLLM) serving the task `questions`, which cannot run here. It lets a test decide what the
Student-Teacher drafts and what the Teacher-Educator replies, through the real `openai` backend. The real
model (SmolLM2-135M, in-process) is used by the tests that do not need to choose the words.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from coaching.reflection.models import BankQuestion, Dialogue, QuestionAssignment
from coaching.reflection.services import bank_question_create, question_assign
from tests.conftest import School


@dataclass
class ScriptedServer:
    """Drafts (dicts, or raw strings for invalid JSON) answer JSON requests; replies answer the others.
    The last item of each list repeats. `down_after` requests, it answers 503 (a server gone down)."""

    drafts: list[Any] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    down_after: int | None = None
    draft_requests: list[dict[str, Any]] = field(default_factory=list)
    reply_requests: list[dict[str, Any]] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    def start(self) -> ScriptedServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                seen = len(server.draft_requests) + len(server.reply_requests)
                if server.down_after is not None and seen >= server.down_after:
                    self._send(503, {"error": {"message": "overloaded"}})
                    return
                schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
                if "reply" in schema.get("properties", {}):  # the Teacher-Educator's constrained reply
                    server.reply_requests.append(body)
                    reply = server.replies[min(len(server.reply_requests), len(server.replies)) - 1]
                    content = reply if reply.startswith("{") else json.dumps({"reply": reply})
                elif "response_format" in body or "guided_json" in body:
                    server.draft_requests.append(body)
                    item = server.drafts[min(len(server.draft_requests), len(server.drafts)) - 1]
                    content = item if isinstance(item, str) else json.dumps(item)
                else:
                    server.reply_requests.append(body)
                    content = server.replies[min(len(server.reply_requests), len(server.replies)) - 1]
                self._send(
                    200,
                    {
                        "id": "scripted",
                        "object": "chat.completion",
                        "model": "scripted-gpu-stand-in",
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def scripted_server(settings) -> Iterator[ScriptedServer]:
    server = ScriptedServer().start()
    settings.MODEL_BACKENDS = {**settings.MODEL_BACKENDS, "questions": "openai"}
    settings.OPENAI_BASE_URL = server.base_url
    settings.OPENAI_MODEL = "scripted-gpu-stand-in"
    settings.REFLECTION_DRAFT_SAMPLES = 1  # one scripted draft per round; best of n has its own test
    yield server
    server.close()


GOOD = {
    "question": "Why does chlorophyll need sunlight to make glucose, and how would a plant change in the dark?",
    "rationale": "Students link the three concepts and predict.",
}
GOOD_2 = {
    "question": "How does sunlight reaching chlorophyll become the glucose a plant stores for the night?",
    "rationale": "Students trace energy from light to sugar.",
}
CLOSED = {"question": "Is chlorophyll green?", "rationale": "A quick check."}
OFF_TOPIC = {"question": "Why do people enjoy going to the beach in the summer holidays?", "rationale": "Fun."}


def photosynthesis_form(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "topic": "Photosynthesis",
        "concepts": "chlorophyll, sunlight, glucose",
        "level": "year 7",
        "materials": "",
        "max_rounds": 3,
    }
    values.update(overrides)
    return values


def finished_dialogue(school: School, **overrides: Any) -> Dialogue:
    values: dict[str, Any] = {
        "course": school.course,
        "created_by": school.teacher,
        "topic": "Photosynthesis",
        "concepts": ["chlorophyll", "sunlight", "glucose"],
        "level": "year 7",
        "max_rounds": 3,
        "status": Dialogue.Status.FINISHED,
        "stop_reason": Dialogue.StopReason.SIGNAL,
        "final_question": GOOD["question"],
        "final_source": Dialogue.FinalSource.MODEL,
        "final_checks": [{"name": "one_question", "passed": True, "reason": ""}],
        "provenance": {"model_version": "test"},
    }
    values.update(overrides)
    dialogue = Dialogue.objects.create(**values)
    dialogue.rounds.create(number=1, draft=CLOSED["question"], checks=[], coaching="How could you start with Why?")
    dialogue.rounds.create(number=2, draft=GOOD["question"], checks=[], coaching="Great question!", is_stop_signal=True)
    return dialogue


@pytest.fixture
def bank_question(school: School) -> BankQuestion:
    return bank_question_create(user=school.teacher, course=school.course, text=GOOD["question"], rating=4)


@pytest.fixture
def assignment(school: School, bank_question: BankQuestion) -> QuestionAssignment:
    import datetime

    from django.utils import timezone

    return question_assign(
        user=school.teacher, question=bank_question, due_at=timezone.now() + datetime.timedelta(days=7)
    )
