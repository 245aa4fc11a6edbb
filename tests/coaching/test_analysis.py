"""The coach's analysis on a lesson's turns: talk moves, questions, segments, moments, the redundancy check.

Uptake here comes from the real shipped model (coaching.uptake), as in the product."""

from __future__ import annotations

import pytest

from coaching.analysis import (
    Moment,
    Turn,
    lesson_analyse,
    question_kind,
    student_talk_kind,
    suggestion_is_redundant,
    talk_move,
)
from coaching.parsing import transcript_parse
from coaching.services import _uptake_pairs, parsed_to_turns
from tests.coaching.conftest import LESSON_TEXT, lesson_vtt


@pytest.mark.parametrize(
    ("text", "previous", "move"),
    [
        ("Why do you think that works?", "It works because it doubles.", "pressing_reasoning"),
        ("How do you know it is seven?", "Seven.", "pressing_reasoning"),
        ("Do you agree with Maya?", "Three fourths is bigger.", "relating"),
        ("So you're saying the fourths are smaller pieces?", "The fourths are smaller pieces.", "revoicing"),
        ("The fourths are smaller.", "The fourths are smaller.", "restating"),
        ("How many pieces are there?", "Lots.", "pressing_accuracy"),
        ("Everyone, look at the board.", None, "keeping_together"),
        ("Open your books.", None, "none"),
    ],
)
def test_talk_moves(text: str, previous: str | None, move: str) -> None:
    assert talk_move(text, previous_student=previous) == move


def test_questions_and_student_talk() -> None:
    assert question_kind("What do you notice about the pattern?") == "open"
    assert question_kind("Is three smaller than four?") == "closed"
    assert question_kind("Write it down.") == ""
    assert student_talk_kind("Yes.") == "short_answer"
    assert student_talk_kind("Three fourths is bigger because each fourth is almost a third.") == "reasoning"


@pytest.fixture(scope="module")
def lesson() -> tuple[list[Turn], object]:
    parsed = transcript_parse(lesson_vtt().encode(), filename="lesson.vtt")
    turns = parsed_to_turns(parsed, teacher_speakers=["Teacher"])
    return turns, lesson_analyse(turns, uptake=_uptake_pairs)


def test_every_quote_is_verbatim_from_its_line(lesson) -> None:
    turns, analysis = lesson
    text_of = {t.line: t.text for t in turns}
    moments = analysis.highlights + analysis.missed_opportunities + analysis.suggestions
    quotes = [(q.line, q.quote) for s in analysis.segments for score in s.scores for q in score.quotes]
    quotes += [(m.line, m.quote) for m in moments]
    assert quotes
    for line, quote in quotes:
        assert quote in text_of[line]


def test_per_utterance_analysis_of_the_lesson(lesson) -> None:
    turns, analysis = lesson
    by_line = {a.line: a for a in analysis.utterances}
    assert by_line[11].move == "pressing_reasoning"  # revoices, asks Leo to agree, and asks why: the strongest
    assert by_line[5].question == "closed"
    assert {by_line[line].question_style for line in (5, 7, 9)} == {"funnelling"}
    assert by_line[2].student_talk == "reasoning" and by_line[4].student_talk == "short_answer"
    assert by_line[1].uptake is None  # opens the lesson: answers no student
    assert by_line[3].uptake in (0, 1, 2) and by_line[11].uptake in (0, 1, 2)
    # Wait time: the VTT gives the teacher's end and the student's start (1 s apart).
    assert by_line[1].wait_seconds == 1.0
    assert analysis.student_talk_share == pytest.approx(
        sum(len(t.text.split()) for t in turns if t.role == "student") / sum(len(t.text.split()) for t in turns),
        abs=0.02,
    )


def test_segments_have_scores_with_reasons(lesson) -> None:
    _turns, analysis = lesson
    assert len(analysis.segments) == 1  # one minute of class: one segment
    segment = analysis.segments[0]
    assert [s.dimension for s in segment.scores] == [
        "instructional_dialogue",
        "quality_of_feedback",
        "analysis_and_inquiry",
    ]
    assert all(1 <= s.score <= 7 and s.why for s in segment.scores)


def test_missed_opportunities_and_suggestions_point_at_detected_moments(lesson) -> None:
    turns, analysis = lesson
    titles = {m.title for m in analysis.missed_opportunities}
    assert "A run of closed questions" in titles
    assert analysis.suggestions, "the lesson has moments to suggest something for"
    for suggestion in analysis.suggestions:
        assert f"line {suggestion.line}" in suggestion.text
        assert suggestion_is_redundant(suggestion, turns, analysis.utterances, analysis.segments) == ""
    check = analysis.metrics["suggestion_check"]
    assert check["redundant"] + check["kept"] <= check["candidates"]
    assert 0 <= check["redundant_share"] <= 1
    assert check["kept"] == len(analysis.suggestions)


def test_a_suggestion_for_what_the_teacher_already_did_is_redundant(lesson) -> None:
    turns, analysis = lesson
    # Line 10: Maya's idea, which the teacher revoiced and pressed for reasons about at line 11.
    already = Moment("suggestion", 10, "Maya", turns[9].text, "t", "d", move="pressing_reasoning", text="After line 10")
    assert suggestion_is_redundant(already, turns, analysis.utterances, analysis.segments).startswith(
        "the teacher already did it at line 11"
    )
    for suggestion in analysis.suggestions:
        assert not (suggestion.line == 10 and suggestion.move == "pressing_reasoning")


def test_a_suggestion_pointing_nowhere_is_dropped(lesson) -> None:
    turns, analysis = lesson
    nowhere = Moment("suggestion", 999, "Maya", "x", "t", "d", move="revoicing")
    assert suggestion_is_redundant(nowhere, turns, analysis.utterances, analysis.segments) != ""


def test_text_and_vtt_of_one_lesson_give_the_same_moves() -> None:
    text = parsed_to_turns(transcript_parse(LESSON_TEXT.encode(), filename="l.txt"), teacher_speakers=["Teacher"])
    vtt = parsed_to_turns(transcript_parse(lesson_vtt().encode(), filename="l.vtt"), teacher_speakers=["Teacher"])
    moves = [a.move for a in lesson_analyse(text, uptake=_uptake_pairs).utterances]
    assert moves == [a.move for a in lesson_analyse(vtt, uptake=_uptake_pairs).utterances]


def _turns(lines: list[tuple[str, str]]) -> list[Turn]:
    return [
        Turn(number, speaker, "teacher" if speaker == "Teacher" else "student", text)
        for number, (speaker, text) in enumerate(lines, start=1)
    ]


def test_a_teacher_who_presses_and_opens_still_gets_three_grounded_suggestions() -> None:
    # A teacher who already asks for reasons and asks open questions: the generic advice is redundant, so the
    # suggestions come from what the lesson shows: a student's question the teacher answered at once, three
    # questions in one breath, an answer only the teacher responded to.
    turns = _turns(
        [
            ("Teacher", "Why do you think the tens place matters here? How do you know? What did you try first?"),
            ("Ana", "What if you get a wild card? What number is a wild card?"),
            ("Teacher", "You make it whatever you want, any digit from zero to nine."),
            ("Ben", "I put the nine in the hundreds because it makes the biggest number."),
            ("Teacher", "Why did you put the nine there? Explain your thinking."),
            ("Ana", "Because 999 plus 1 equals 1,000 so it is the closest one."),
            ("Teacher", "Why is that the closest? How could you check it?"),
            ("Ben", "If I have 93, do I need to make it closer to 1,000?"),
            ("Teacher", "Yes, you need three digits at all times, so keep the hundreds."),
            ("Ana", "I think the eights are better because the sum is under."),
            ("Teacher", "Why would the eights be better? How do you know they stay under?"),
        ]
    )
    analysis = lesson_analyse(turns, uptake=_uptake_pairs)
    titles = [s.title for s in analysis.suggestions]
    assert len(analysis.suggestions) >= 3, titles
    assert "Hand a student's question to the class" in titles
    line_of = {t.line: t for t in turns}
    for suggestion in analysis.suggestions:
        assert suggestion.quote in line_of[suggestion.line].text
        assert suggestion_is_redundant(suggestion, turns, analysis.utterances, analysis.segments) == ""
    assert analysis.metrics["suggestion_check"]["redundant"] >= 1  # the generic "ask for the reasoning" went


def test_one_question_at_a_time_is_redundant_where_the_teacher_narrows_down_at_once() -> None:
    turns = _turns(
        [
            ("Teacher", "What did you get? Is it bigger? Did you check it? Why?"),
            ("Ana", "Twelve."),
            ("Teacher", "How did you get twelve?"),
        ]
    )
    analysis = lesson_analyse(turns, uptake=_uptake_pairs)
    stacked = Moment("suggestion", 1, "Teacher", turns[0].text, "t", "d", move="one_question", text="At line 1")
    assert suggestion_is_redundant(stacked, turns, analysis.utterances, analysis.segments).startswith(
        "the teacher already did it at line 3"
    )
    single = Moment("suggestion", 3, "Teacher", turns[2].text, "t", "d", move="one_question", text="At line 3")
    assert suggestion_is_redundant(single, turns, analysis.utterances, analysis.segments) != ""
