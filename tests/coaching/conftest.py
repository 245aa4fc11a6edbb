"""Coaching fixtures: small transcripts in every format (the real Celery worker is tests/conftest.py's)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A short fractions lesson (written for these tests) in the `Speaker: text` layout.
LESSON_TEXT = """Teacher: Today we compare fractions. What do you notice about three fourths and two thirds?
Maya: Three fourths is bigger because each fourth is only a little smaller than a third and there are three of them.
Teacher: Okay.
Leo: Two thirds.
Teacher: Is it two thirds? Is that bigger? Is the denominator three?
Leo: Yes.
Teacher: Is three smaller than four?
Leo: Yes.
Teacher: So which is bigger?
Maya: I think they are the same because both are one piece away from a whole.
Teacher: So you're saying both are one piece away from a whole. Do you agree, Leo? Why?
Leo: No, because the fourth piece is smaller than the third piece, so three fourths is closer to one.
Teacher: Good. Let's write that down. Everyone, copy the number line from the board now please.
Maya: Can we use colours?
Teacher: Yes.
"""


def lesson_vtt() -> str:
    cues = []
    clock = 0.0
    for raw in LESSON_TEXT.strip().splitlines():
        speaker, text = raw.split(": ", 1)
        start, end = clock, clock + 4.0
        cues.append(f"{_stamp(start)} --> {_stamp(end)}\n<v {speaker}>{text}\n")
        clock = end + (1.0 if speaker == "Teacher" else 0.5)
    return "WEBVTT\n\n" + "\n".join(cues)


def _stamp(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"00:{int(minutes):02d}:{secs:06.3f}"
