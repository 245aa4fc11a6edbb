"""Reading transcripts: every format, the speaker guess, and bad input that names its problem."""

from __future__ import annotations

import json

import pytest

from coaching.parsing import MAX_LINES, TranscriptFileError, speakers_check, transcript_parse
from tests.coaching.conftest import LESSON_TEXT, lesson_vtt


def test_text_lines_keep_order_speakers_and_continuations() -> None:
    parsed = transcript_parse(b"Ms. Lee: What do you notice?\nS1: It doubles\nevery time.\n", filename="lesson.txt")
    assert parsed.format == "text"
    assert [(u.speaker, u.text) for u in parsed.utterances] == [
        ("Ms. Lee", "What do you notice?"),
        ("S1", "It doubles every time."),
    ]
    assert parsed.guessed_teachers() == ["Ms. Lee"]


def test_text_with_times_and_otter_headers() -> None:
    data = b"00:00:05 Teacher: Ready?\n[00:00:09] Student A: Yes.\nSam  0:12\nI counted by twos.\n"
    parsed = transcript_parse(data, filename="otter.txt")
    assert [(u.speaker, u.text, u.start) for u in parsed.utterances] == [
        ("Teacher", "Ready?", 5.0),
        ("Student A", "Yes.", 9.0),
        ("Sam", "I counted by twos.", 12.0),
    ]


def test_csv_with_start_and_other_column_order() -> None:
    data = b'start,text,speaker\n0:01,Why is that?,T\n4.5,"Because, well, it is even.",S2\n'
    parsed = transcript_parse(data, filename="lesson.csv")
    assert [(u.speaker, u.text, u.start) for u in parsed.utterances] == [
        ("T", "Why is that?", 1.0),
        ("S2", "Because, well, it is even.", 4.5),
    ]
    assert parsed.guessed_teachers() == ["T"]


def test_vtt_voice_tags_merge_consecutive_cues_of_one_speaker() -> None:
    data = (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Ms. Lee>What do you\n\n"
        b"00:00:03.000 --> 00:00:04.000\n<v Ms. Lee>notice?\n\n"
        b"00:00:06.500 --> 00:00:08.000\n<v Sam>It doubles.\n"
    )
    parsed = transcript_parse(data, filename="zoom.vtt")
    assert parsed.format == "vtt"
    assert [(u.speaker, u.text, u.start, u.end) for u in parsed.utterances] == [
        ("Ms. Lee", "What do you notice?", 1.0, 4.0),
        ("Sam", "It doubles.", 6.5, 8.0),
    ]


def test_srt_with_name_prefixes() -> None:
    data = (
        b"1\n00:00:01,000 --> 00:00:02,000\nTeacher: Why?\n\n"
        b"2\n00:00:03,000 --> 00:00:05,000\nKai: Because it is odd.\n"
    )
    parsed = transcript_parse(data, filename="captions.srt")
    assert parsed.format == "srt"
    assert [(u.speaker, u.text, u.start) for u in parsed.utterances] == [
        ("Teacher", "Why?", 1.0),
        ("Kai", "Because it is odd.", 3.0),
    ]


def test_json_list_and_object() -> None:
    turns = [{"speaker": "Teacher", "text": "How?", "start": 0}, {"speaker": "Ana", "text": "By counting.", "start": 2}]
    for payload in (turns, {"utterances": turns}):
        parsed = transcript_parse(json.dumps(payload).encode(), filename="t.json")
        assert [(u.speaker, u.text, u.start) for u in parsed.utterances] == [
            ("Teacher", "How?", 0.0),
            ("Ana", "By counting.", 2.0),
        ]


def test_the_whole_lesson_in_text_and_vtt_reads_the_same_turns() -> None:
    text = transcript_parse(LESSON_TEXT.encode(), filename="lesson.txt")
    vtt = transcript_parse(lesson_vtt().encode(), filename="lesson.vtt")
    assert [(u.speaker, u.text) for u in text.utterances] == [(u.speaker, u.text) for u in vtt.utterances]
    assert len(text.utterances) == 15
    assert text.guessed_teachers() == ["Teacher"]
    assert vtt.has_times and not text.has_times


def test_without_teacher_names_the_speaker_with_most_words_is_guessed() -> None:
    parsed = transcript_parse(b"Ann: Let us look at the graph together and see.\nBo: ok\nCy: yes\n", filename="x.txt")
    assert parsed.guessed_teachers() == ["Ann"]


def test_utf16_with_bom_is_read() -> None:
    parsed = transcript_parse("Teacher: Ça va?\nS1: Oui.\n".encode("utf-16"), filename="x.txt")
    assert parsed.utterances[0].text == "Ça va?"


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"", "empty.txt", "“empty.txt” is empty"),
        (b"   \n\n", "blank.txt", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "photo.txt", "is a binary file"),
        ("Teacher: Très bien.\nS1: Oui.\n".encode("latin-1"), "latin.txt", "is not UTF-8 text"),
        (b"Teacher: Hello.\nTeacher: Anyone?\n", "alone.txt", "Only one speaker (“Teacher”)"),
        (b"speaker,words_said\nT,Hello\nS,Hi\n", "x.csv", "no “text” column (its columns: “speaker”, “words_said”)"),
        (b"who,text\nT,Hello\n", "x.csv", "no “speaker” column"),
        (b"Hello there, class.\nTeacher: Sit.\n", "x.txt", "Line 1 has no speaker"),
        (
            b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHello all\n",
            "x.vtt",
            "Caption 1 of the WebVTT file names no speaker",
        ),
        (b'{"turns": 3}', "x.json", "must be a list of turns"),
        (b"[1, 2]", "x.json", "Turn 1 of the JSON file is not an object"),
        (b"{oops", "x.json", "is not valid JSON"),
        (b"speaker,text,start\nT,Hi,soon\nS,Hey,2\n", "x.csv", "Row 2 of the CSV file: “soon” is not a time"),
    ],
)
def test_bad_files_name_their_problem(data: bytes, filename: str, message: str) -> None:
    with pytest.raises(TranscriptFileError) as caught:
        transcript_parse(data, filename=filename)
    assert message in caught.value.message


def test_a_hundred_thousand_lines_are_refused_with_the_limit() -> None:
    data = "".join(f"{'Teacher' if i % 2 else 'S1'}: line {i}\n" for i in range(100_000)).encode()
    with pytest.raises(TranscriptFileError) as caught:
        transcript_parse(data, filename="huge.txt")
    assert f"the limit is {MAX_LINES:,} lines" in caught.value.message
    assert "“huge.txt” has 100,000 lines" in caught.value.message


def test_speakers_check_names_unknown_speakers_and_needs_a_student() -> None:
    assert speakers_check(speakers=["Teacher", "S1"], teacher_speakers=["Teacher"]) == ["Teacher"]
    with pytest.raises(TranscriptFileError) as caught:
        speakers_check(speakers=["Teacher", "S1"], teacher_speakers=["Mrs. Smith"])
    assert caught.value.message == "“Mrs. Smith” is not a speaker in this transcript (its speakers: “Teacher”, “S1”)."
    with pytest.raises(TranscriptFileError, match="leave at least one speaker as a student"):
        speakers_check(speakers=["Teacher", "S1"], teacher_speakers=["Teacher", "S1"])
    with pytest.raises(TranscriptFileError, match="at least one speaker who is the teacher"):
        speakers_check(speakers=["Teacher", "S1"], teacher_speakers=[])
