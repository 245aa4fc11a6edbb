"""Reading uploaded lecture transcripts and student comments: every file and row checked.

Pure functions over bytes: nothing here touches the database. A problem with a whole file (its
encoding, its layout, a dangerous zip) refuses the file; a problem with one row refuses the row. Each
problem is a sentence an admin can act on.
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from typing import Any

import webvtt
from webvtt.errors import MalformedFileError

from core.parsing import JsonTooDeepError, json_loads_bounded
from datasets_admin.models import CATEGORIES

MAX_FILE_BYTES = 20 * 1024 * 1024  # one transcript or comment file (SIGHT's whole comment file is 4 MB)
MAX_UPLOAD_BYTES = 60 * 1024 * 1024  # one uploaded file, zip included
MAX_EXPANDED_BYTES = 200 * 1024 * 1024  # everything a zip expands to
MAX_ZIP_MEMBERS = 2000
MAX_COMPRESSION_RATIO = 200  # text compresses about 3-10x; a bomb, thousands of times
MAX_COMMENT_CHARS = 10_000
TRANSCRIPT_EXTENSIONS = (".txt", ".vtt", ".srt")
COMMENT_EXTENSIONS = (".csv", ".json")
PASSAGE_WORDS = 120  # about a minute of speech
PASSAGE_SECONDS = 60.0

# A cell a spreadsheet would run: =HYPERLINK(...), +cmd|..., @SUM(...), -2+3 and so on. A comment that
# merely starts with "-" or "=)" is text and stays.
_FORMULA_RE = re.compile(r"^\s*(?:=\s*[A-Za-z0-9_$(\"']|[+\-@]\s*[A-Za-z_][A-Za-z0-9_.]*\(|[=+\-@]\s*\w+\s*\|)")
_VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


@dataclass(frozen=True)
class UploadedFile:
    name: str
    data: bytes


@dataclass(frozen=True)
class Refusal:
    """A file, or one row of a file, that was not stored, and why."""

    file: str
    message: str
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "row": self.row, "message": self.message}


@dataclass
class Segment:
    text: str
    start: float | None = None
    end: float | None = None


@dataclass
class ParsedLecture:
    file: str
    video_id: str
    title: str
    segments: list[Segment]
    is_timed: bool
    course_code: str = ""
    course_title: str = ""
    url: str = ""
    recorded_on: date | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return " ".join(segment.text for segment in self.segments).strip()


@dataclass
class ParsedComment:
    row: int
    video_id: str
    text: str
    external_id: str = ""
    video_name: str = ""
    playlist_name: str = ""
    human_labels: dict[str, list[int]] = field(default_factory=dict)


class FileRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- Zips and encodings --------------------------------------------------------------------------


def uploads_expand(files: Iterable[UploadedFile]) -> tuple[list[UploadedFile], list[Refusal]]:
    """Unpack zips (safely) and return the files inside with those refused, in upload order."""
    expanded: list[UploadedFile] = []
    refused: list[Refusal] = []
    for upload in files:
        if len(upload.data) > MAX_UPLOAD_BYTES:
            refused.append(Refusal(upload.name, f"The file is larger than the limit of {_size(MAX_UPLOAD_BYTES)}."))
            continue
        if upload.name.lower().endswith(".zip") or upload.data[:4] == b"PK\x03\x04":
            try:
                expanded.extend(_zip_members(upload))
            except FileRefused as problem:
                refused.append(Refusal(upload.name, problem.message))
            continue
        expanded.append(upload)
    return expanded, refused


def _zip_members(upload: UploadedFile) -> list[UploadedFile]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(upload.data))
    except zipfile.BadZipFile as error:
        raise FileRefused("The file is not a readable zip archive.") from error
    infos = [info for info in archive.infolist() if not info.is_dir()]
    if len(infos) > MAX_ZIP_MEMBERS:
        raise FileRefused(f"The zip holds {len(infos)} files; at most {MAX_ZIP_MEMBERS} are accepted in one zip.")
    declared = 0
    for info in infos:
        name = info.filename
        path = PurePosixPath(name.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
            raise FileRefused(f"The zip holds a path that leaves its folder ({name!r}); nothing of it was read.")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise FileRefused(f"The zip holds a symbolic link ({name!r}); nothing of it was read.")
        if info.flag_bits & 0x1:
            raise FileRefused(f"The zip holds an encrypted file ({name!r}); upload it unencrypted.")
        declared += info.file_size
        if info.compress_size and info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            raise FileRefused(
                f"The zip looks like a zip bomb: {name!r} expands {info.file_size // info.compress_size}-fold; "
                "nothing of it was read."
            )
    if declared > MAX_EXPANDED_BYTES:
        raise FileRefused(f"The zip expands to more than {_size(MAX_EXPANDED_BYTES)}; nothing of it was read.")
    members = []
    total = 0
    for info in infos:
        if info.filename.startswith("__MACOSX/") or PurePosixPath(info.filename).name.startswith("."):
            continue
        # Read at most one byte past the limit: a header that lies about the size cannot make us read more.
        with archive.open(info) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        total += len(data)
        if total > MAX_EXPANDED_BYTES or len(data) > MAX_FILE_BYTES:
            raise FileRefused(
                f"{info.filename!r} in the zip is larger than the limit of {_size(MAX_FILE_BYTES)}; "
                "nothing of it was read."
            )
        if data[:4] == b"PK\x03\x04":
            raise FileRefused(f"The zip holds another zip ({info.filename!r}); upload the inner zip itself.")
        members.append(UploadedFile(f"{upload.name}/{info.filename}", data))
    return members


def text_decode(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark) or UTF-16 with its mark; anything else is refused."""
    if len(data) > MAX_FILE_BYTES:
        raise FileRefused(f"The file is larger than the limit of {_size(MAX_FILE_BYTES)}.")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise FileRefused("The file says it is UTF-16 but is not; save it as UTF-8.") from error
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise FileRefused(
                f"The file is not UTF-8 text (byte {error.start + 1} cannot be read); "
                "save it as UTF-8 and upload it again."
            ) from error
    if "\x00" in text:
        raise FileRefused("The file holds binary data, not text.")
    return text


# --- Transcripts ---------------------------------------------------------------------------------


def metadata_parse(name: str, data: bytes) -> dict[str, Any]:
    """A lecture's metadata: SIGHT's `metadata/<video_id>.json`, or our own keys (title, course, url, date)."""
    text = text_decode(data)
    try:
        value = json_loads_bounded(text)
    except JsonTooDeepError as error:
        raise FileRefused(str(error)) from error
    except json.JSONDecodeError as error:
        raise FileRefused(f"The metadata is not valid JSON (line {error.lineno}: {error.msg}).") from error
    if not isinstance(value, dict):
        raise FileRefused("The metadata must be one JSON object with a video_id, not a list or a value.")
    video_id = value.get("video_id")
    if not isinstance(video_id, str) or not _VIDEO_ID_RE.match(video_id):
        raise FileRefused("The metadata has no valid video_id (letters, digits, - and _, at most 100).")
    for key in ("video_title", "title", "course", "course_title", "playlist_id", "playlist_name", "url", "date"):
        if key in value and not isinstance(value[key], str):
            raise FileRefused(f"The metadata's {key} must be text.")
    if value.get("date"):
        try:
            date.fromisoformat(value["date"])
        except ValueError as error:
            raise FileRefused(f"The metadata's date {value['date']!r} is not a date like 2007-09-05.") from error
    if value.get("url") and not re.match(r"^https?://", value["url"]):
        raise FileRefused("The metadata's url must start with http:// or https://.")
    return value


def transcript_parse(name: str, data: bytes, *, metadata: dict[str, Any] | None = None) -> ParsedLecture:
    """A transcript as plain text (SIGHT's layout), WebVTT or SRT."""
    text = text_decode(data)
    lower = name.lower()
    if not text.strip():
        raise FileRefused("The transcript is empty.")
    if lower.endswith(".vtt") or text.lstrip().startswith("WEBVTT"):
        segments = _cues(text, "vtt")
        is_timed = True
    elif lower.endswith(".srt"):
        segments = _cues(text, "srt")
        is_timed = True
    elif lower.endswith(".txt"):
        segments = [Segment(text=" ".join(text.split()))]
        is_timed = False
    else:
        raise FileRefused("A transcript must be .txt, .vtt or .srt.")
    meta = metadata or {}
    stem = PurePosixPath(name).stem
    video_id = str(meta.get("video_id") or stem)[:100]
    if not _VIDEO_ID_RE.match(video_id):
        raise FileRefused(
            f"The file name {stem!r} is not a video id (letters, digits, - and _): rename the file or add its metadata."
        )
    url = meta.get("url") or (f"https://www.youtube.com/watch?v={video_id}" if meta.get("video_id") else "")
    return ParsedLecture(
        file=name,
        video_id=video_id,
        title=str(meta.get("video_title") or meta.get("title") or stem)[:300],
        segments=segments,
        is_timed=is_timed,
        course_code=str(meta.get("course") or meta.get("playlist_id") or ""),
        course_title=str(meta.get("course_title") or meta.get("playlist_name") or ""),
        url=url[:500],
        recorded_on=date.fromisoformat(meta["date"]) if meta.get("date") else None,
        metadata=meta,
    )


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    total = 0.0
    for part in parts:
        total = total * 60 + float(part)
    return total


def _cues(text: str, kind: str) -> list[Segment]:
    label = "WebVTT" if kind == "vtt" else "SRT"
    try:
        if kind == "vtt":
            captions = webvtt.from_buffer(io.StringIO(text))
        else:
            captions = webvtt.from_buffer(io.StringIO(text), format="srt")
        cues = [Segment(" ".join(c.text.split()), _seconds(c.start), _seconds(c.end)) for c in captions]
    except (MalformedFileError, ValueError, IndexError) as error:
        raise FileRefused(f"The file is not valid {label}: {error or 'its cues cannot be read'}.") from error
    cues = [cue for cue in cues if cue.text]
    if not cues:
        raise FileRefused(f"The file is not valid {label}: it has no cue with a time and text.")
    return cues


def passages_build(lecture: ParsedLecture) -> list[Segment]:
    """Cut a transcript into passages: a minute of cues when timed, else about 120 words by position."""
    if lecture.is_timed:
        passages: list[Segment] = []
        current: list[Segment] = []
        for cue in lecture.segments:
            current.append(cue)
            start = current[0].start or 0.0
            if (cue.end or 0.0) - start >= PASSAGE_SECONDS:
                passages.append(Segment(" ".join(c.text for c in current), start, cue.end))
                current = []
        if current:
            passages.append(Segment(" ".join(c.text for c in current), current[0].start, current[-1].end))
        return passages
    sentences = re.split(r"(?<=[.!?])\s+", lecture.text)
    passages = []
    words: list[str] = []
    for sentence in sentences:
        words.extend(sentence.split())
        if len(words) >= PASSAGE_WORDS:
            passages.append(Segment(" ".join(words)))
            words = []
    if words:
        if passages and len(words) < PASSAGE_WORDS // 3:
            passages[-1] = Segment(passages[-1].text + " " + " ".join(words))
        else:
            passages.append(Segment(" ".join(words)))
    return passages


# --- Comments ------------------------------------------------------------------------------------


def is_formula(value: str) -> bool:
    return bool(_FORMULA_RE.match(value))


def comments_parse(name: str, data: bytes) -> tuple[list[ParsedComment], list[Refusal]]:
    """Comments from CSV (comma- or space-delimited, SIGHT's two layouts) or JSON.

    Returns the good rows and the refused ones; raises FileRefused when the file itself is wrong.
    """
    text = text_decode(data)
    if not text.strip():
        raise FileRefused("The file is empty.")
    lower = name.lower()
    if lower.endswith(".json"):
        records = _json_records(text)
    elif lower.endswith(".csv"):
        records = _csv_records(text)
    else:
        raise FileRefused("Comments must be a .csv or .json file.")
    good: list[ParsedComment] = []
    refused: list[Refusal] = []
    seen: dict[str, int] = {}
    for row, record in records:
        problem = _comment_problem(record)
        external_id = _clean_id(record.get("comment_id"))
        if not problem and external_id and external_id in seen:
            problem = f"comment_id {external_id} appears twice in this file (first in row {seen[external_id]})."
        if problem:
            refused.append(Refusal(name, problem, row=row))
            continue
        if external_id:
            seen[external_id] = row
        good.append(
            ParsedComment(
                row=row,
                video_id=str(record["video_id"]).strip(),
                text=str(record.get("comment", record.get("text"))).strip(),
                external_id=external_id,
                video_name=str(record.get("video_name") or "")[:300],
                playlist_name=str(record.get("playlist_name") or "")[:300],
                human_labels=_human_labels(record),
            )
        )
    return good, refused


def _json_records(text: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        value = json_loads_bounded(text)
    except JsonTooDeepError as error:
        raise FileRefused(str(error)) from error
    except json.JSONDecodeError as error:
        raise FileRefused(f"The file is not valid JSON (line {error.lineno}: {error.msg}).") from error
    if isinstance(value, dict) and isinstance(value.get("comments"), list):
        value = value["comments"]
    if not isinstance(value, list):
        raise FileRefused('The JSON must be a list of comments (or {"comments": [...]}), each an object.')
    records = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            raise FileRefused(f"Item {index} of the JSON list is not an object with comment and video_id.")
        records.append((index, item))
    if records and not any("video_id" in item for _, item in records):
        raise FileRefused("The JSON's objects have no video_id: this is not a comments file.")
    return records


def _csv_records(text: str) -> list[tuple[int, dict[str, Any]]]:
    first_line = text.split("\n", 1)[0]
    delimiter = _delimiter(first_line)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quotechar='"')
    try:
        header = [column.strip() for column in next(reader)]
    except (StopIteration, csv.Error) as error:
        raise FileRefused("The CSV has no header row.") from error
    text_column = "comment" if "comment" in header else ("text" if "text" in header else "")
    missing = [
        column for column, present in (("comment", text_column), ("video_id", "video_id" in header)) if not present
    ]
    if missing:
        raise FileRefused(
            f"The CSV lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            f"its header is: {', '.join(header[:12])}{'…' if len(header) > 12 else ''}."
        )
    records = []
    try:
        for row_number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                records.append(
                    (row_number, {"__problem__": f"has {len(cells)} cells where the header has {len(header)}."})
                )
                continue
            record = dict(zip(header, cells, strict=True))
            if text_column == "text":
                record["comment"] = record.pop("text")
            records.append((row_number, record))
    except csv.Error as error:
        raise FileRefused(f"The CSV cannot be read past row {reader.line_num}: {error}.") from error
    return records


def _delimiter(first_line: str) -> str:
    # SIGHT's sight_dataset.csv is space-delimited with quotes despite its name; the annotated one uses commas.
    best = ","
    best_count = 0
    for delimiter in (",", "\t", ";", " "):
        header = next(csv.reader([first_line], delimiter=delimiter, quotechar='"'), [])
        names = {cell.strip() for cell in header}
        count = len(names & {"comment", "text", "video_id", "comment_id", "video_name", "playlist_name"})
        if count > best_count:
            best, best_count = delimiter, count
    return best


def _comment_problem(record: dict[str, Any]) -> str:
    if "__problem__" in record:
        return str(record["__problem__"])
    comment = record.get("comment", record.get("text"))
    video_id = record.get("video_id")
    if not isinstance(comment, str) or not comment.strip():
        return "the comment is empty."
    if len(comment) > MAX_COMMENT_CHARS:
        return f"the comment has {len(comment):,} characters; at most {MAX_COMMENT_CHARS:,} are accepted."
    if not isinstance(video_id, str) or not _VIDEO_ID_RE.match(video_id.strip()):
        return "video_id is missing or not a video id (letters, digits, - and _)."
    for key, value in record.items():
        if isinstance(value, str) and is_formula(value):
            return f"the {key} cell is a spreadsheet formula ({value[:40]!r}); formulas are not accepted."
    return ""


def _clean_id(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    if re.fullmatch(r"\d+\.0", text):  # SIGHT writes its ids as floats ("7134.0")
        text = text[:-2]
    return text[:100]


def _human_labels(record: dict[str, Any]) -> dict[str, list[int]]:
    """The two people's labels of the annotated CSV (annotator_H1_<category>, annotator_H2_<category>)."""
    labels: dict[str, list[int]] = {}
    for category in CATEGORIES:
        values = []
        for annotator in ("H1", "H2"):
            raw = str(record.get(f"annotator_{annotator}_{category}", "")).strip()
            if raw in ("1", "1.0"):
                values.append(1)
            elif raw in ("0", "0.0"):
                values.append(0)
        if values:
            labels[category] = values
    return labels


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MB"


TIME_RE = re.compile(r"(?<![\d:])(?:(\d{1,2}):)?([0-5]?\d):([0-5]\d)(?![\d:])")


def time_mentioned(text: str) -> float | None:
    """The first time a comment names ("at 23:10", "1:02:05"), in seconds."""
    match = TIME_RE.search(text)
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
