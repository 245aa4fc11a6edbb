"""Reading classroom transcripts: CSV, `Speaker: text` lines, WebVTT, SRT and JSON.

Everything here is pure: bytes in, a `ParsedTranscript` out, or a `TranscriptFileError` that names the
problem. Nothing is stored until a file has been read whole, so a bad file never leaves half a
transcript behind.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from core.errors import ApplicationError
from core.parsing import JsonTooDeepError, json_loads_bounded

__all__ = [
    "FORMATS",
    "MAX_BYTES",
    "MAX_LINES",
    "ParsedTranscript",
    "ParsedUtterance",
    "SpeakerSummary",
    "TranscriptFileError",
    "speaker_role_guess",
    "speakers_check",
    "transcript_parse",
]

FORMATS = ("csv", "text", "vtt", "srt", "json")
MAX_BYTES = 5 * 1024 * 1024
MAX_LINES = 20_000
MAX_SPEAKERS = 80
MAX_SPEAKER_NAME = 60

TEACHER_NAME = re.compile(
    r"^(t|tchr|teacher|instructor|tutor|facilitator|coach|(mr|mrs|ms|miss|mx|dr|prof)\.?\s+\S.*|teacher\s+\S.*)$",
    re.IGNORECASE,
)
STUDENT_NAME = re.compile(
    r"^(s|ss|st|s\d+|st\d+|student|students|student\s*\S{1,12}|class|group|pupil\s*\S*|learner\s*\S*|kids?|"
    r"multiple students|many students|unknown)$",
    re.IGNORECASE,
)
TIME_PREFIX = re.compile(r"^\[?\(?(?P<time>\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)\)?\]?\s*[-–]?\s*")
SPEAKER_LINE = re.compile(r"^(?P<speaker>[^:\n]{1,60}?)\s*:\s+(?P<text>\S.*)$")
SPEAKER_TIME_HEADER = re.compile(r"^(?P<speaker>[^:\n]{1,60}?)\s+(?P<time>\d{1,2}:\d{2}(?::\d{2})?)\s*$")


class TranscriptFileError(ApplicationError):
    """An uploaded transcript cannot be read. The message says what is wrong and how to fix it."""

    code = "transcript_invalid"


@dataclass(frozen=True)
class ParsedUtterance:
    speaker: str
    text: str
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class SpeakerSummary:
    name: str
    turns: int
    words: int
    guessed_role: str  # "teacher" or "student"


@dataclass
class ParsedTranscript:
    format: str
    utterances: list[ParsedUtterance]
    speakers: list[SpeakerSummary] = field(default_factory=list)

    @property
    def has_times(self) -> bool:
        return any(u.start is not None for u in self.utterances)

    def speaker_names(self) -> list[str]:
        return [s.name for s in self.speakers]

    def guessed_teachers(self) -> list[str]:
        return [s.name for s in self.speakers if s.guessed_role == "teacher"]


# --- Decoding ------------------------------------------------------------------------------------


def _decode(data: bytes, filename: str) -> str:
    if not data.strip():
        raise TranscriptFileError(f"“{filename}” is empty: there is no transcript to read.")
    if len(data) > MAX_BYTES:
        raise TranscriptFileError(
            f"“{filename}” is {len(data) / 1_048_576:.1f} MB; the limit is {MAX_BYTES // 1_048_576} MB per transcript."
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise TranscriptFileError(f"“{filename}” says it is UTF-16 but is not valid UTF-16.") from error
    if b"\x00" in data[:8192]:
        raise TranscriptFileError(
            f"“{filename}” is a binary file, not a text transcript. Upload CSV, TXT, VTT, SRT or JSON."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TranscriptFileError(
            f"“{filename}” is not UTF-8 text (byte 0x{data[error.start]:02x} at position {error.start} is not "
            "UTF-8): its encoding is unknown. Save or export it as UTF-8 and upload it again."
        ) from error
    controls = sum(1 for char in text[:8192] if ord(char) < 32 and char not in "\t\r\n\f")
    if controls > 8:
        raise TranscriptFileError(
            f"“{filename}” is a binary file, not a text transcript. Upload CSV, TXT, VTT, SRT or JSON."
        )
    lines = len(text.splitlines())
    if lines > MAX_LINES:
        raise TranscriptFileError(
            f"“{filename}” has {lines:,} lines; the limit is {MAX_LINES:,} lines (about ten hours of class). "
            "Split it into one file per lesson."
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _format_of(filename: str, text: str) -> str:
    name = filename.lower()
    stripped = text.lstrip()
    if name.endswith(".vtt") or stripped.startswith("WEBVTT"):
        return "vtt"
    if name.endswith(".srt") or re.match(r"^\d+\s*\n\s*\d{1,2}:\d{2}:\d{2}[,.]\d{1,3}\s*-->", stripped):
        return "srt"
    if name.endswith(".json") or stripped.startswith(("[", "{")):
        return "json"
    if name.endswith(".csv"):
        return "csv"
    return "text"


# --- Times ---------------------------------------------------------------------------------------


def _seconds(value: Any, *, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raw = str(value).strip()
        if not raw:
            return None
        try:
            if ":" in raw:
                parts = [float(p.replace(",", ".")) for p in raw.split(":")]
                seconds = 0.0
                for part in parts:
                    seconds = seconds * 60 + part
            else:
                seconds = float(raw)
        except ValueError as error:
            raise TranscriptFileError(
                f"{where}: “{raw}” is not a time (use seconds, such as 12.5, or hh:mm:ss)."
            ) from error
    if seconds < 0 or seconds != seconds:
        raise TranscriptFileError(f"{where}: a time cannot be negative.")
    return seconds


# --- The formats ---------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _parse_csv(text: str) -> list[ParsedUtterance]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration as error:
        raise TranscriptFileError("The CSV file has no header row.") from error
    except csv.Error as error:
        raise TranscriptFileError(f"The CSV file cannot be read: {error}.") from error
    columns = [column.strip().lower() for column in header]
    names = ", ".join(f"“{c}”" for c in header) or "none"

    def column(*options: str) -> int | None:
        for option in options:
            if option in columns:
                return columns.index(option)
        return None

    speaker_at = column("speaker", "speaker_name", "name", "role")
    text_at = column("text", "utterance", "transcript", "content", "words")
    start_at = column("start", "start_time", "time", "timestamp", "begin")
    end_at = column("end", "end_time", "stop")
    if text_at is None:
        raise TranscriptFileError(
            f"The CSV file has no “text” column (its columns: {names}). "
            "The first row must name the columns: speaker,text and optionally start."
        )
    if speaker_at is None:
        raise TranscriptFileError(
            f"The CSV file has no “speaker” column (its columns: {names}). "
            "The first row must name the columns: speaker,text and optionally start."
        )
    utterances = []
    try:
        for number, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            cells = row + [""] * (len(columns) - len(row))
            speaker, said = _clean(cells[speaker_at]), _clean(cells[text_at])
            if not said:
                continue
            if not speaker:
                raise TranscriptFileError(f"Row {number} of the CSV file has text but no speaker.")
            where = f"Row {number} of the CSV file"
            start = _seconds(cells[start_at], where=where) if start_at is not None else None
            end = _seconds(cells[end_at], where=where) if end_at is not None else None
            utterances.append(ParsedUtterance(speaker=speaker, text=said, start=start, end=end))
    except csv.Error as error:
        raise TranscriptFileError(f"The CSV file cannot be read: {error}.") from error
    return utterances


def _parse_text(text: str) -> list[ParsedUtterance]:
    """`Speaker: text` lines (Zoom, plain notes), optionally after a time; Otter's `Speaker  0:03` header
    lines followed by the words; a line without a speaker continues the previous turn."""
    utterances: list[dict[str, Any]] = []
    pending_header: tuple[str, float | None] | None = None
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        header = SPEAKER_TIME_HEADER.match(line)
        if header and len(header["speaker"].split()) <= 4:
            pending_header = (_clean(header["speaker"]), _seconds(header["time"], where=f"Line {number}"))
            continue
        start = None
        timed = TIME_PREFIX.match(line)
        if timed and timed.end() < len(line):
            start = _seconds(timed["time"], where=f"Line {number}")
            line = line[timed.end() :]
        match = SPEAKER_LINE.match(line)
        if match and len(match["speaker"].split()) <= 5 and not match["speaker"].strip().endswith((".", "?", "!")):
            utterances.append({"speaker": _clean(match["speaker"]), "text": _clean(match["text"]), "start": start})
            pending_header = None
        elif pending_header is not None:
            utterances.append({"speaker": pending_header[0], "text": _clean(line), "start": pending_header[1]})
            pending_header = None
        elif utterances:
            utterances[-1]["text"] = _clean(utterances[-1]["text"] + " " + line)
        else:
            raise TranscriptFileError(
                f"Line {number} has no speaker: “{line[:80]}”. Each turn must start with the speaker's name and a "
                "colon, such as “Teacher: What do you notice?”."
            )
    return [ParsedUtterance(**u) for u in utterances]


def _captions_to_utterances(captions: list[Any], label: str) -> list[ParsedUtterance]:
    """Caption cues become turns: the speaker from a `<v Name>` voice tag or a `Name:` prefix; consecutive
    cues of one speaker are one turn (captioners split sentences across cues)."""
    utterances: list[ParsedUtterance] = []
    for number, caption in enumerate(captions, start=1):
        said = _clean(caption.text)
        if not said:
            continue
        speaker = _clean(getattr(caption, "voice", None) or "")
        if not speaker:
            match = SPEAKER_LINE.match(said)
            if match and len(match["speaker"].split()) <= 5:
                speaker, said = _clean(match["speaker"]), _clean(match["text"])
        if not speaker and utterances and not re.match(r"^[-–]", said):
            speaker = utterances[-1].speaker
        if not speaker:
            raise TranscriptFileError(
                f"Caption {number} of the {label} file names no speaker: “{said[:80]}”. Captions need speaker "
                "names (a <v Name> tag or “Name: ” before the words) to tell the teacher from the students."
            )
        said = re.sub(r"^[-–]\s*", "", said)
        start = _seconds(caption.start, where=f"Caption {number}") or 0.0
        end = _seconds(caption.end, where=f"Caption {number}")
        if utterances and utterances[-1].speaker == speaker:
            previous = utterances[-1]
            utterances[-1] = ParsedUtterance(speaker, f"{previous.text} {said}", previous.start, end)
        else:
            utterances.append(ParsedUtterance(speaker, said, start, end))
    return utterances


def _parse_vtt(text: str) -> list[ParsedUtterance]:
    try:
        captions = webvtt.from_string(text)
    except (MalformedFileError, MalformedCaptionError) as error:
        raise TranscriptFileError(f"The WebVTT file is malformed: {error}.") from error
    return _captions_to_utterances(list(captions), "WebVTT")


def _parse_srt(text: str) -> list[ParsedUtterance]:
    try:
        captions = webvtt.from_buffer(io.StringIO(text.strip() + "\n"), format="srt")
    except (MalformedFileError, MalformedCaptionError) as error:
        raise TranscriptFileError(f"The SRT file is malformed: {error}.") from error
    return _captions_to_utterances(list(captions), "SRT")


def _parse_json(text: str) -> list[ParsedUtterance]:
    try:
        data = json_loads_bounded(text)
    except JsonTooDeepError as error:
        raise TranscriptFileError(str(error)) from error
    except json.JSONDecodeError as error:
        raise TranscriptFileError(f"The JSON file is not valid JSON: {error.msg} at line {error.lineno}.") from error
    if isinstance(data, dict):
        data = data.get("utterances", data.get("turns", data.get("transcript")))
    if not isinstance(data, list):
        raise TranscriptFileError(
            'The JSON file must be a list of turns, [{"speaker": "Teacher", "text": "...", "start": 0}], '
            'or an object with an "utterances" list.'
        )
    utterances = []
    for number, item in enumerate(data, start=1):
        if not isinstance(item, dict):
            raise TranscriptFileError(f"Turn {number} of the JSON file is not an object with speaker and text.")
        said = _clean(str(item.get("text") or item.get("utterance") or ""))
        speaker = _clean(str(item.get("speaker") or ""))
        if not said:
            continue
        if not speaker:
            raise TranscriptFileError(f"Turn {number} of the JSON file has text but no “speaker”.")
        where = f"Turn {number} of the JSON file"
        utterances.append(
            ParsedUtterance(
                speaker=speaker,
                text=said,
                start=_seconds(item.get("start"), where=where),
                end=_seconds(item.get("end"), where=where),
            )
        )
    return utterances


_PARSERS = {"csv": _parse_csv, "text": _parse_text, "vtt": _parse_vtt, "srt": _parse_srt, "json": _parse_json}


# --- Speakers ------------------------------------------------------------------------------------


def speaker_role_guess(summaries: list[tuple[str, int, int]]) -> dict[str, str]:
    """Guess each speaker's role from (name, turns, words): names such as “Teacher”, “T”, “Ms. Lee” are the
    teacher, “S1”, “Student”, “Class” students; without such a name the speaker with the most words."""
    roles = {}
    for name, _turns, _words in summaries:
        bare = name.strip().rstrip(":").strip()
        if STUDENT_NAME.match(bare):
            roles[name] = "student"
        elif TEACHER_NAME.match(bare):
            roles[name] = "teacher"
        else:
            roles[name] = ""
    if "teacher" not in roles.values() and summaries:
        unnamed = [item for item in summaries if roles[item[0]] == ""] or list(summaries)
        roles[max(unnamed, key=lambda item: item[2])[0]] = "teacher"
    return {name: role or "student" for name, role in roles.items()}


def _summaries(utterances: list[ParsedUtterance]) -> list[SpeakerSummary]:
    turns: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for utterance in utterances:
        turns[utterance.speaker] += 1
        words[utterance.speaker] += len(utterance.text.split())
    ordered = sorted(turns, key=lambda name: (-words[name], name))
    roles = speaker_role_guess([(name, turns[name], words[name]) for name in ordered])
    return [SpeakerSummary(name, turns[name], words[name], roles[name]) for name in ordered]


def speakers_check(*, speakers: list[str], teacher_speakers: list[str]) -> list[str]:
    """The teacher speakers chosen for a transcript, checked: known names, at least one teacher and one student.

    Raises TranscriptFileError naming the unknown speakers.
    """
    chosen = [name.strip() for name in teacher_speakers if name.strip()]
    unknown = [name for name in chosen if name not in speakers]
    if unknown:
        listed = ", ".join(f"“{name}”" for name in unknown)
        known = ", ".join(f"“{name}”" for name in speakers)
        raise TranscriptFileError(
            f"{listed} {'is not a speaker' if len(unknown) == 1 else 'are not speakers'} in this transcript "
            f"(its speakers: {known})."
        )
    if not chosen:
        raise TranscriptFileError("Choose at least one speaker who is the teacher.")
    if set(chosen) >= set(speakers):
        raise TranscriptFileError("Every speaker is marked as the teacher: leave at least one speaker as a student.")
    return list(dict.fromkeys(chosen))


def transcript_parse(data: bytes, *, filename: str = "transcript.txt", format: str = "") -> ParsedTranscript:
    """Read a transcript file whole.

    Args:
        data: the file's bytes (UTF-8, or UTF-16 with its byte-order mark).
        filename: used to pick the format (.csv, .txt, .vtt, .srt, .json) and in messages.
        format: one of FORMATS to skip detection.
    Returns:
        The utterances in order, with each speaker's turns, words and guessed role.
    Raises:
        TranscriptFileError: empty, binary, not UTF-8, too long, malformed, no speakers, one speaker.
    """
    text = _decode(data, filename)
    chosen = format or _format_of(filename, text)
    if chosen not in _PARSERS:
        raise TranscriptFileError(f"“{chosen}” is not a transcript format; use one of {', '.join(FORMATS)}.")
    utterances = _PARSERS[chosen](text)
    if not utterances:
        raise TranscriptFileError(f"“{filename}” contains no turns: no speaker said anything that could be read.")
    long_names = [u.speaker for u in utterances if len(u.speaker) > MAX_SPEAKER_NAME]
    if long_names:
        raise TranscriptFileError(
            f"A speaker name is {len(long_names[0])} characters long (“{long_names[0][:40]}…”): the file does not "
            "look like a transcript of turns."
        )
    speakers = _summaries(utterances)
    if len(speakers) == 1:
        raise TranscriptFileError(
            f"Only one speaker (“{speakers[0].name}”) talks in “{filename}”. Coaching looks at how the teacher and "
            "students talk with each other: the transcript needs the students' turns too."
        )
    if len(speakers) > MAX_SPEAKERS:
        raise TranscriptFileError(
            f"“{filename}” has {len(speakers)} different speakers; the limit is {MAX_SPEAKERS}. Check that each "
            "line starts with the speaker's name and a colon."
        )
    return ParsedTranscript(format=chosen, utterances=utterances, speakers=speakers)
