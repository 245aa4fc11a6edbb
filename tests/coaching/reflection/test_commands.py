from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from coaching.reflection.dialogue import STOP_SIGNAL
from coaching.reflection.models import Dialogue
from tests.coaching.reflection.conftest import CLOSED, GOOD, ScriptedServer

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_generate_question_prints_the_dialogue_and_final_question_as_json(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    scripted_server.drafts = [CLOSED, GOOD]
    scripted_server.replies = [STOP_SIGNAL]
    materials = tmp_path / "notes.md"
    materials.write_text("Leaves hold chlorophyll.", encoding="utf-8")

    output = json.loads(run("generate_question", "--topic", "Photosynthesis", "--concepts", "chlorophyll,sunlight",
                            "--level", "year 7", "--materials", str(materials), "--json"))  # fmt: skip

    assert [item["draft"] for item in output["rounds"]] == [CLOSED["question"], GOOD["question"]]
    assert output["rounds"][1]["coaching"] == STOP_SIGNAL
    assert (output["final_question"], output["stop_reason"], output["final_passes_checks"]) == (
        GOOD["question"], "signal", True,
    )  # fmt: skip
    assert "Leaves hold chlorophyll." in scripted_server.draft_requests[0]["messages"][-1]["content"]
    assert Dialogue.objects.count() == 0  # the command stores nothing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concepts", " "], "Give at least one key concept (separate several with commas)."),
        (["--topic", "t" * 5000], "The topic has 5,000 characters; keep it to 300 (put the rest in the materials)."),
        (["--materials", "/nonexistent/notes.txt"], "The materials file /nonexistent/notes.txt could not be read: No such file or directory."),  # noqa: E501
    ],
)  # fmt: skip
def test_generate_question_refuses_bad_input_with_a_clear_message(args: list[str], message: str) -> None:
    base = {"--topic": "Photosynthesis", "--concepts": "chlorophyll", "--level": "year 7"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value

    with pytest.raises(CommandError) as raised:
        run("generate_question", *[part for pair in base.items() for part in pair])

    assert str(raised.value) == message


def test_generate_question_names_a_model_server_that_is_down(scripted_server: ScriptedServer, monkeypatch) -> None:
    from models_runtime.backends import openai as openai_backend

    monkeypatch.setattr(openai_backend.time, "sleep", lambda seconds: None)
    scripted_server.down_after = 0

    with pytest.raises(CommandError) as raised:
        run("generate_question", "--topic", "Photosynthesis", "--concepts", "chlorophyll", "--level", "year 7")

    assert scripted_server.base_url in str(raised.value)


def test_evaluate_questions_prints_the_figures_beside_the_one_shot_baseline(
    scripted_server: ScriptedServer, tmp_path: Path
) -> None:
    # The dialogue runs first (a closed draft, coached, then a good one); the baseline's one call gets
    # the closed draft again.
    scripted_server.drafts = [CLOSED, GOOD, CLOSED]
    scripted_server.replies = [STOP_SIGNAL]
    topics = tmp_path / "topics.jsonl"
    topics.write_text(
        json.dumps({"topic": "Photosynthesis", "concepts": ["chlorophyll", "sunlight"], "level": "year 7"}) + "\n"
    )

    report = json.loads(run("evaluate_questions", "--topics", str(topics), "--concurrency", "1", "--json"))

    assert {key: report[key] for key in ("topics", "pass_rate", "mean_rounds", "stopped_by_signal_share")} == {
        "topics": 1, "pass_rate": 1.0, "mean_rounds": 2, "stopped_by_signal_share": 1.0,
    }  # fmt: skip
    assert report["one_shot"] == {"pass_rate": 0.0}
    assert report["repaired_share"] == 0.0


def test_evaluate_questions_reports_every_bad_line_of_the_topics_file(tmp_path: Path) -> None:
    topics = tmp_path / "topics.jsonl"
    topics.write_text('{"topic": "A", "concepts": [], "level": "year 3"}\nnot json\n', encoding="utf-8")

    with pytest.raises(CommandError) as raised:
        run("evaluate_questions", "--topics", str(topics), "--json")

    assert str(raised.value) == (
        "The topics file has problems: line 1: Give at least one key concept (separate several with commas).; "
        "line 2: not a JSON object (Expecting value: line 1 column 1 (char 0))"
    )


def test_the_shipped_topic_files_hold_30_topics_with_a_third_held_out() -> None:
    from coaching.reflection.evaluation import topics_read

    folder = Path(__file__).resolve().parents[3] / "coaching" / "reflection" / "eval_data"
    development = topics_read(folder / "topics_dev.jsonl", max_rounds=4)
    held_out = topics_read(folder / "topics_heldout.jsonl", max_rounds=4)

    second_held_out = topics_read(folder / "topics_heldout_b.jsonl", max_rounds=4)

    assert (len(development), len(held_out), len(second_held_out)) == (20, 10, 10)
    assert not {spec.topic for spec in development} & {spec.topic for spec in held_out}
    # The second held-out file was written after the first had been looked at: new topics only.
    assert not {spec.topic for spec in second_held_out} & {spec.topic for spec in development + held_out}
