"""Every bad input the issue names gets a clear message and stores nothing (pure parsing, no database)."""

from __future__ import annotations

import io
import json
import stat
import zipfile

import pytest

from datasets_admin.parsers import (
    MAX_FILE_BYTES,
    FileRefused,
    UploadedFile,
    comments_parse,
    is_formula,
    metadata_parse,
    passages_build,
    text_decode,
    time_mentioned,
    transcript_parse,
    uploads_expand,
)
from datasets_admin.sight_demo import SIGHT_DEMO_DIR

VTT = (
    "WEBVTT\n\n00:00:01.000 --> 00:00:04.500\nToday: eigenvalues.\n\n"
    "00:01:05.000 --> 00:01:09.250\nNow the determinant.\n"
)
SRT = (
    "1\n00:00:01,000 --> 00:00:04,500\nToday: eigenvalues.\n\n2\n00:01:05,000 --> 00:01:09,250\nNow the determinant.\n"
)


def _zip(members: dict[str, bytes], *, symlink: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def test_webvtt_and_srt_give_timed_cues_and_minute_passages() -> None:
    for name, text in (("abc.vtt", VTT), ("abc.srt", SRT)):
        lecture = transcript_parse(name, text.encode())
        assert lecture.is_timed is True
        assert [(s.start, s.end, s.text) for s in lecture.segments] == [
            (1.0, 4.5, "Today: eigenvalues."),
            (65.0, 69.25, "Now the determinant."),
        ]
        passages = passages_build(lecture)
        assert [(p.start, p.end) for p in passages] == [(1.0, 69.25)]


def test_plain_sight_transcript_is_untimed_and_cut_by_position_with_metadata() -> None:
    path = SIGHT_DEMO_DIR / "transcripts" / "Z_5uLqcwDgM.txt"
    meta = metadata_parse("Z_5uLqcwDgM.json", (SIGHT_DEMO_DIR / "metadata" / "Z_5uLqcwDgM.json").read_bytes())
    lecture = transcript_parse(path.name, path.read_bytes(), metadata=meta)
    assert (lecture.video_id, lecture.title, lecture.is_timed) == (
        "Z_5uLqcwDgM",
        "Lecture 10: Survey of Difficulties with Ax = b",
        False,
    )
    assert lecture.url == "https://www.youtube.com/watch?v=Z_5uLqcwDgM"
    assert lecture.course_code == "PLUl4u3cNGP63oMNUHXqIUcrkS2PivhN3k"
    passages = passages_build(lecture)
    assert all(p.start is None for p in passages)
    assert " ".join(p.text for p in passages).split() == lecture.text.split()
    assert 30 < len(passages) < 60


def test_unknown_encoding_binary_and_bad_vtt_are_refused_with_a_reason() -> None:
    with pytest.raises(FileRefused, match="not UTF-8 text"):
        transcript_parse("x.txt", "Grüße aus Köln".encode("cp1252"))
    with pytest.raises(FileRefused, match="binary data"):
        text_decode(b"abc\x00def")
    with pytest.raises(FileRefused, match="not valid WebVTT"):
        transcript_parse("x.vtt", b"WEBVTT\n\nthis is not a cue\n")
    with pytest.raises(FileRefused, match="larger than the limit"):
        text_decode(b"a" * (MAX_FILE_BYTES + 1))
    assert text_decode("\ufeffhello".encode()) == "hello"
    assert text_decode("hello".encode("utf-16")) == "hello"


def test_zip_bomb_traversal_and_symlink_are_refused_and_good_files_pass() -> None:
    good = UploadedFile("good.zip", _zip({"lectures/a1.txt": b"One lecture.", "lectures/a2.vtt": VTT.encode()}))
    bomb = UploadedFile("bomb.zip", _zip({"big.txt": b"0" * (30 * 1024 * 1024)}))
    traversal = UploadedFile("evil.zip", _zip({"../../etc/cron.d/x.txt": b"x"}))
    link = UploadedFile("link.zip", _zip({"a.txt": b"x"}, symlink="b.txt"))
    nested = UploadedFile("nested.zip", _zip({"inner.zip": _zip({"a.txt": b"x"})}))
    files, refused = uploads_expand([good, bomb, traversal, link, nested])
    assert [f.name for f in files] == ["good.zip/lectures/a1.txt", "good.zip/lectures/a2.vtt"]
    reasons = {r.file: r.message for r in refused}
    assert "zip bomb" in reasons["bomb.zip"]
    assert "leaves its folder" in reasons["evil.zip"]
    assert "symbolic link" in reasons["link.zip"]
    assert "another zip" in reasons["nested.zip"]
    _, refused = uploads_expand([UploadedFile("broken.zip", b"PK\x03\x04garbage")])
    assert refused[0].message == "The file is not a readable zip archive."


def test_both_sight_comment_layouts_are_read() -> None:
    rows, refused = comments_parse("comments.csv", (SIGHT_DEMO_DIR / "comments.csv").read_bytes())
    assert (len(rows), refused) == (93, [])  # space-delimited with quotes, multi-line comments
    assert rows[0].video_id == "Z_5uLqcwDgM"
    assert rows[0].external_id == "8807"  # SIGHT writes ids as floats
    assert rows[0].playlist_name.startswith("MIT 18.065")
    annotated, refused = comments_parse("a.csv", (SIGHT_DEMO_DIR.parent / "sight_annotated.csv").read_bytes())
    assert (len(annotated), refused) == (239, [])
    assert annotated[0].text == "Determinant has been determined. Thank you MIT!"
    assert annotated[0].human_labels["gratitude"] == [1, 1]


def test_comment_csv_problems_file_and_row_level() -> None:
    with pytest.raises(FileRefused, match="lacks the column video_id"):
        comments_parse("c.csv", b"comment,comment_id\nhello,1\n")
    rows, refused = comments_parse(
        "c.csv",
        b"comment,video_id,comment_id\n"
        b'"Great lecture",abc,1\n'
        b'"=HYPERLINK(""http://evil"",""x"")",abc,2\n'
        b'"",abc,3\n'
        b'"again",abc,1\n'
        b'"-1 for the sound, but =) fine",abc,4\n'
        b'"@Gilbert (the professor) is right",abc,5\n'
        b"too,many,cells,here\n",
    )
    assert [r.text for r in rows] == [
        "Great lecture",
        "-1 for the sound, but =) fine",
        "@Gilbert (the professor) is right",
    ]
    assert [(r.row, r.message) for r in refused] == [
        (
            3,
            'the comment cell is a spreadsheet formula (\'=HYPERLINK("http://evil","x")\'); formulas are not accepted.',
        ),
        (4, "the comment is empty."),
        (5, "comment_id 1 appears twice in this file (first in row 2)."),
        (8, "has 4 cells where the header has 3."),
    ]


def test_json_that_is_not_what_it_claims_is_refused() -> None:
    with pytest.raises(FileRefused, match="not valid JSON"):
        comments_parse("c.json", b"{not json")
    with pytest.raises(FileRefused, match="must be a list of comments"):
        comments_parse("c.json", b'{"hello": "world"}')
    with pytest.raises(FileRefused, match="no video_id: this is not a comments file"):
        comments_parse("c.json", json.dumps([{"name": "x"}]).encode())
    with pytest.raises(FileRefused, match="Item 2 of the JSON list is not an object"):
        comments_parse("c.json", b'[{"comment": "a", "video_id": "v"}, 3]')
    rows, refused = comments_parse("c.json", json.dumps({"comments": [{"text": "ok", "video_id": "v1"}]}).encode())
    assert [(r.text, r.video_id) for r in rows] == [("ok", "v1")] and refused == []
    with pytest.raises(FileRefused, match="no valid video_id"):
        metadata_parse("m.json", b'{"video_id": "../etc"}')


def test_formula_and_time_rules() -> None:
    assert [
        is_formula(v) for v in ("=1+2", "+SUM(A1)", "@SUM(A1)", "-cmd|' /C calc'!A0", "=)", "-1 for this", "+1")
    ] == [
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert time_mentioned("I got lost at 23:10, why?") == 23 * 60 + 10
    assert time_mentioned("around 1:02:05 he drops a sign") == 3725
    assert time_mentioned("no time here, 3.14") is None
