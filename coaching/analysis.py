"""What an instructional coach would notice in a lesson: pure functions from turns to an analysis.

Per utterance: the teacher's talk move (TalkMoves, Suresh et al. 2019/2022), open or closed questions,
focusing or funnelling questions (Wood 1998; Herbel-Eisenmann & Breyfogle 2005), the uptake of a teacher
turn that answers a student (`coaching.uptake`), whether a student's turn gives reasoning or a short answer,
and the wait time after a teacher's question where the transcript has times.

Per segment (15 minutes, or 40 turns without times): students' share of the words and three scores 1 to 7
(see `DIMENSIONS`), each with the quotes that justify it.

Then highlights (what went well), missed opportunities (detected moments) and suggestions grounded in those
moments. Every quote is checked against the transcript in code (`quote_is_verbatim`): a quote not found in
its line is dropped. Every suggestion is checked against the per-utterance analysis (`suggestion_is_redundant`):
one recommending a move the teacher already made there, or makes often in that segment, is dropped; the share
dropped is reported.

Nothing here touches the database or a model: `coaching.services` feeds it turns and uptake scores.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

POLICY_VERSION = "coaching-policy-4"

MOVES = {
    "keeping_together": "Keeping everyone together",
    "relating": "Getting students to relate to another's idea",
    "restating": "Restating",
    "revoicing": "Revoicing",
    "pressing_accuracy": "Pressing for accuracy",
    "pressing_reasoning": "Pressing for reasoning",
    "none": "None",
}
SEGMENT_SECONDS = 15 * 60
SEGMENT_TURNS = 40

DIMENSIONS = {
    "instructional_dialogue": (
        "Instructional dialogue",
        "Back-and-forth talk about the content: students say a good share of the words, and the teacher's replies "
        "take up what students said (uptake) and bring other students in.",
    ),
    "quality_of_feedback": (
        "Quality of feedback",
        "Replies to students' answers that go beyond right/wrong: revoicing, asking for reasons or accuracy, building "
        "on the answer, rather than a bare “Okay.” or “Good.”.",
    ),
    "analysis_and_inquiry": (
        "Analysis and inquiry",
        "Open questions and pressing for reasoning, and students answering with reasons (because, so, if… then) "
        "rather than single words or numbers.",
    ),
}

STUDENT_GENERIC = re.compile(r"^(s|ss|student|students|class|group|multiple students|unknown)$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9']+")
_SENTENCE = re.compile(r"[^.?!]+[.?!]*")
_STOP_TEXT = (
    "a an the and or but so to of in on at is are was were be it its this that i you we he she they "
    "me my your our us um uh yeah okay ok oh like just do does did what how why there here then if "
    "with for not no yes all right well can could would will have has had going get got go one "
)
_STOP = frozenset(_STOP_TEXT.split())

PATTERNS: dict[str, re.Pattern[str]] = {
    "pressing_reasoning": re.compile(
        r"\b(why|how do you know|how did you (know|get|figure|decide)|explain|what makes you (think|say)|"
        r"convince|prove|justify|what('s| is) your (reasoning|thinking|strategy)|how come|what'?s the reason|"
        r"how would you (show|check)|tell (me|us) (more|how|why))\b",
        re.IGNORECASE,
    ),
    "relating": re.compile(
        r"\b(do you agree|agree or disagree|who agrees|who disagrees|(can|could|would) (someone|anyone|somebody) "
        r"(add|build|explain what)|add on|build on|what do you think about what|same or different|"
        r"what (he|she|they) said|(his|her|their) (idea|answer|strategy|way)|compare (your|that) )",
        re.IGNORECASE,
    ),
    "revoicing": re.compile(
        r"\b(so you('re| are)? (saying|think|mean|said)|you said|what you('re| are) saying|in other words|"
        r"so your (idea|thinking) is|if i understand)\b",
        re.IGNORECASE,
    ),
    "pressing_accuracy": re.compile(
        r"\b(how many|how much|what('s| is| was| does| did) (the|your) (answer|number|total|sum|product|unit)|"
        r"what did you get|are you sure|check (it|that|your)|what (number|unit)|is that (right|correct)|"
        r"what('s| is) \d+|can you show|show (me|us)|what comes next|double.check)\b",
        re.IGNORECASE,
    ),
    "keeping_together": re.compile(
        r"\b(every(one|body)|all of you|raise your hands?|eyes (up|on)|are we (all|ready)|who else|"
        r"(can|could) (someone|somebody|anyone)|turn (and|to) (talk|your partner)|with your partner|"
        r"let'?s (all|look|go|see)|thumbs up|boys and girls|listen( up)?,)\b",
        re.IGNORECASE,
    ),
}
OPEN_QUESTION = re.compile(
    r"^\W*(why|how (do|did|does|would|could|can|come|might)|what (do|did|does|would|could|might) you (think|notice|"
    r"mean|see|wonder)|what (makes|made|if|happens|would happen|strategy|patterns?|do you notice|is the same|"
    r"is different)|"
    r"explain|describe|tell (me|us)|in what ways?|what else|who can explain)\b",
    re.IGNORECASE,
)
QUESTION_START = re.compile(
    r"^\W*(what|why|how|where|when|which|who|whose|can|could|would|will|do|does|did|is|are|was|were|should|have|has|"
    r"isn't|aren't|don't|didn't)\b",
    re.IGNORECASE,
)
BARE_EVALUATION = re.compile(
    r"^\W*(yes|yeah|yep|okay|ok|good|great|right|no|nope|alright|all right|correct|exactly|thank you|thanks|"
    r"very good|good job|nice|perfect|mm-hmm|uh-huh)[\s.!,]*$",
    re.IGNORECASE,
)
REASONING_MARKERS = re.compile(
    r"\b(because|'cause|cause|since|so that|so it|so you|that means|which means|means|if .{1,60} then|therefore|"
    r"i think|i noticed|i notice|the reason|that's why|it's like|equals|is the same as|is bigger|is smaller|"
    r"doubles|half of|times|divided|multiply|add|subtract|instead)\b",
    re.IGNORECASE,
)


@dataclass
class Turn:
    """One utterance as the analysis sees it; `role` is "teacher" or "student"."""

    line: int
    speaker: str
    role: str
    text: str
    start: float | None = None
    end: float | None = None


@dataclass
class UtteranceAnalysis:
    line: int
    move: str = "none"
    question: str = ""  # "open", "closed" or "" (not a question)
    question_style: str = ""  # "focusing", "funnelling" or ""
    uptake: int | None = None
    uptake_score: float | None = None
    student_talk: str = ""  # "reasoning", "short_answer" or "" for teachers
    wait_seconds: float | None = None


@dataclass
class Quote:
    line: int
    speaker: str
    quote: str


@dataclass
class SegmentScore:
    dimension: str
    label: str
    score: int
    why: str
    quotes: list[Quote] = field(default_factory=list)


@dataclass
class Segment:
    index: int
    first_line: int
    last_line: int
    start: float | None
    end: float | None
    student_talk_share: float
    scores: list[SegmentScore] = field(default_factory=list)


@dataclass
class Moment:
    """A highlight, a missed opportunity or a suggestion: a point with its verbatim quote and its line."""

    kind: str
    line: int
    speaker: str
    quote: str
    title: str
    detail: str
    move: str = ""  # a suggestion: the move it recommends
    related_line: int | None = None
    text: str = ""  # a suggestion: what to try (template wording, or the model's phrasing)
    phrased_by: str = "template"


@dataclass
class LessonAnalysis:
    utterances: list[UtteranceAnalysis]
    segments: list[Segment]
    highlights: list[Moment]
    missed_opportunities: list[Moment]
    suggestions: list[Moment]
    student_talk_share: float
    metrics: dict[str, Any]
    policy_version: str = POLICY_VERSION

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- Words and quotes ----------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if w not in _STOP and len(w) > 1}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def quote_is_verbatim(quote: str, turn: Turn) -> bool:
    return bool(quote.strip()) and quote in turn.text


def quote_for(turn: Turn, *, limit: int = 220, prefer: Callable[[str], bool] | None = None) -> str:
    """A verbatim excerpt of a turn: the whole turn when short, else its most telling sentence(s)."""
    if len(turn.text) <= limit:
        return turn.text
    parts = sentences(turn.text)
    chosen = next((p for p in parts if prefer and prefer(p)), parts[0] if parts else turn.text)
    if len(chosen) > limit:
        cut = chosen[:limit].rsplit(" ", 1)[0]
        chosen = cut or chosen[:limit]
    return chosen


# --- Per utterance -------------------------------------------------------------------------------


def _question_sentences(text: str) -> list[str]:
    return [s for s in sentences(text) if s.endswith("?") or (QUESTION_START.match(s) and len(words(s)) <= 14)]


def question_kind(text: str) -> str:
    """ "open" when any question in the turn invites explanation, "closed" for other questions, "" for none."""
    questions = [s for s in sentences(text) if s.endswith("?")]
    if not questions:
        return ""
    if any(OPEN_QUESTION.match(q) or PATTERNS["pressing_reasoning"].search(q) for q in questions):
        return "open"
    return "closed"


def talk_move(text: str, *, previous_student: str | None) -> str:
    """The teacher's TalkMoves move for one turn (the strongest when several apply)."""
    overlap = 0.0
    if previous_student:
        student_content = content_words(previous_student)
        if student_content:
            overlap = len(student_content & content_words(text)) / len(student_content)
    if PATTERNS["pressing_reasoning"].search(text):
        return "pressing_reasoning"
    if PATTERNS["relating"].search(text):
        return "relating"
    if previous_student and PATTERNS["revoicing"].search(text) and overlap >= 0.2:
        return "revoicing"
    # The student's words again, not as a closed question (“Is it two thirds?” checks an answer; it does not
    # put the idea back to the class).
    if previous_student and overlap >= 0.5 and question_kind(text) != "closed":
        # The student's words again: revoicing when the teacher adds to them, restating when not.
        extra = content_words(text) - content_words(previous_student)
        return "revoicing" if len(extra) >= 3 else "restating"
    if PATTERNS["pressing_accuracy"].search(text):
        return "pressing_accuracy"
    if PATTERNS["keeping_together"].search(text):
        return "keeping_together"
    return "none"


def student_talk_kind(text: str) -> str:
    count = len(words(text))
    if count >= 6 and REASONING_MARKERS.search(text):
        return "reasoning"
    if count >= 14:
        return "reasoning"
    return "short_answer"


def utterances_analyse(
    turns: Sequence[Turn], uptake: Callable[[list[tuple[str, str]]], list[tuple[float, int]]]
) -> list[UtteranceAnalysis]:
    """Analyse every turn. `uptake` scores (student text, teacher text) pairs in one batch."""
    results = [UtteranceAnalysis(line=t.line) for t in turns]
    pairs: list[tuple[int, str, str]] = []
    for i, turn in enumerate(turns):
        previous = turns[i - 1] if i else None
        previous_student = previous.text if previous and previous.role == "student" else None
        if turn.role == "teacher":
            results[i].move = talk_move(turn.text, previous_student=previous_student)
            results[i].question = question_kind(turn.text)
            if previous_student is not None:
                pairs.append((i, previous_student, turn.text))
            following = turns[i + 1] if i + 1 < len(turns) else None
            if results[i].question and following and following.role == "student" and following.start is not None:
                ended = turn.end
                if ended is not None:
                    results[i].wait_seconds = round(max(0.0, following.start - ended), 1)
        else:
            results[i].student_talk = student_talk_kind(turn.text)
    if pairs:
        for (i, _s, _t), (score, label) in zip(pairs, uptake([(s, t) for _i, s, t in pairs]), strict=True):
            results[i].uptake_score = round(score, 3)
            results[i].uptake = label
    _question_styles(turns, results)
    return results


def _question_styles(turns: Sequence[Turn], results: list[UtteranceAnalysis]) -> None:
    """Focusing questions ask students to say their thinking (open questions, pressing for reasoning);
    funnelling is a run of closed questions, each after a short answer, that walks students to the answer."""
    run: list[int] = []
    for i, turn in enumerate(turns):
        if turn.role != "teacher":
            if results[i].student_talk == "reasoning":
                run = []
            continue
        analysis = results[i]
        if analysis.question == "open" or analysis.move in ("pressing_reasoning", "relating", "revoicing"):
            if analysis.question:
                analysis.question_style = "focusing"
            run = []
        elif analysis.question == "closed":
            run.append(i)
            if len(run) >= 3:
                for j in run:
                    results[j].question_style = "funnelling"
        else:
            run = []


# --- Segments ------------------------------------------------------------------------------------


def _segments_bounds(turns: Sequence[Turn]) -> list[tuple[int, int]]:
    if not turns:
        return []
    timed = all(t.start is not None for t in turns)
    bounds, begin = [], 0
    if timed:
        origin = turns[0].start or 0.0
        for i in range(1, len(turns)):
            if ((turns[i].start or 0.0) - origin) // SEGMENT_SECONDS != (
                (turns[begin].start or 0.0) - origin
            ) // SEGMENT_SECONDS:
                bounds.append((begin, i))
                begin = i
    else:
        for i in range(SEGMENT_TURNS, len(turns), SEGMENT_TURNS):
            bounds.append((begin, i))
            begin = i
    bounds.append((begin, len(turns)))
    # A last sliver (under a third of a segment) joins the one before it.
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] < (SEGMENT_TURNS // 3 if not timed else 4):
        last = bounds.pop()
        bounds[-1] = (bounds[-1][0], last[1])
    return bounds


def talk_share(turns: Sequence[Turn]) -> float:
    student = sum(len(words(t.text)) for t in turns if t.role == "student")
    total = sum(len(words(t.text)) for t in turns)
    return round(student / total, 3) if total else 0.0


def _scale(value: float) -> int:
    """0..1 to the 1..7 scale."""
    return max(1, min(7, 1 + round(6 * max(0.0, min(1.0, value)))))


def _quote(turn: Turn, **options: Any) -> Quote:
    return Quote(line=turn.line, speaker=turn.speaker, quote=quote_for(turn, **options))


def _segment_scores(turns: Sequence[Turn], analyses: Sequence[UtteranceAnalysis]) -> list[SegmentScore]:
    teacher = [(t, a) for t, a in zip(turns, analyses, strict=True) if t.role == "teacher"]
    student = [(t, a) for t, a in zip(turns, analyses, strict=True) if t.role == "student"]
    replies = [(t, a) for t, a in teacher if a.uptake is not None]
    share = talk_share(turns)
    mean_uptake = sum(a.uptake or 0 for _t, a in replies) / len(replies) / 2 if replies else 0.0
    exchanges = sum(1 for i in range(1, len(turns)) if turns[i].role != turns[i - 1].role) / max(1, len(turns) - 1)
    relating = sum(1 for _t, a in teacher if a.move in ("relating", "keeping_together")) / max(1, len(teacher))
    dialogue = 0.35 * min(1.0, share / 0.45) + 0.35 * mean_uptake + 0.15 * exchanges + 0.15 * min(1.0, relating * 4)
    by_uptake = sorted(replies, key=lambda item: -(item[1].uptake_score or 0))
    dialogue_quotes = [_quote(t) for t, a in by_uptake[:2] if (a.uptake or 0) >= 1]
    if share < 0.25 and teacher:
        longest = max(teacher, key=lambda item: len(item[0].text))[0]
        dialogue_quotes.append(_quote(longest))
    dialogue_why = (
        f"Students said {round(100 * share)}% of the words; the mean uptake of replies to students was "
        f"{2 * mean_uptake:.1f} of 2 over {len(replies)} repl{'y' if len(replies) == 1 else 'ies'}."
    )

    rich = [
        (t, a)
        for t, a in replies
        if a.move in ("revoicing", "pressing_reasoning", "pressing_accuracy", "relating") or (a.uptake or 0) == 2
    ]
    bare = [(t, a) for t, a in replies if BARE_EVALUATION.match(t.text)]
    feedback = (len(rich) - 0.5 * len(bare)) / len(replies) if replies else 0.0
    feedback_quotes = [_quote(t) for t, _a in rich[:2]] + [_quote(t) for t, _a in bare[:1]]
    feedback_why = (
        f"{len(rich)} of {len(replies)} replies to students revoiced, pressed or built on the answer; "
        f"{len(bare)} {'was a bare evaluation' if len(bare) == 1 else 'were bare evaluations'} (“Okay.”, “Good.”)."
    )

    questions = [(t, a) for t, a in teacher if a.question]
    open_questions = [(t, a) for t, a in questions if a.question == "open"]
    pressing = [(t, a) for t, a in teacher if a.move == "pressing_reasoning"]
    reasoning = [(t, a) for t, a in student if a.student_talk == "reasoning"]
    inquiry = (
        0.4 * (len(open_questions) / len(questions) if questions else 0.0) * 2
        + 0.3 * min(1.0, len(pressing) / max(1, len(teacher)) * 5)
        + 0.3 * (len(reasoning) / len(student) if student else 0.0) * 1.5
    )
    inquiry_quotes = [_quote(t, prefer=lambda s: s.endswith("?")) for t, _a in (open_questions or pressing)[:1]]
    inquiry_quotes += [_quote(t, prefer=lambda s: bool(REASONING_MARKERS.search(s))) for t, _a in reasoning[:1]]
    if not inquiry_quotes:
        inquiry_quotes = [_quote(t, prefer=lambda s: s.endswith("?")) for t, _a in questions[:1]]
    inquiry_why = (
        f"{len(open_questions)} of {len(questions)} questions were open; {len(pressing)} pressed for reasoning; "
        f"{len(reasoning)} of {len(student)} student turns gave reasons."
    )
    scores = [
        SegmentScore(
            "instructional_dialogue",
            DIMENSIONS["instructional_dialogue"][0],
            _scale(dialogue),
            dialogue_why,
            dialogue_quotes,
        ),
        SegmentScore(
            "quality_of_feedback", DIMENSIONS["quality_of_feedback"][0], _scale(feedback), feedback_why, feedback_quotes
        ),
        SegmentScore(
            "analysis_and_inquiry", DIMENSIONS["analysis_and_inquiry"][0], _scale(inquiry), inquiry_why, inquiry_quotes
        ),
    ]
    line_of = {t.line: t for t in turns}
    for score in scores:
        score.quotes = _verbatim(score.quotes, line_of)
    return scores


def _verbatim(quotes: list[Any], line_of: dict[int, Turn]) -> list[Any]:
    """Keep the quotes found word for word in their line; drop the others (and duplicates)."""
    kept, seen = [], set()
    for quote in quotes:
        turn = line_of.get(quote.line)
        if turn is None or not quote_is_verbatim(quote.quote, turn) or (quote.line, quote.quote) in seen:
            continue
        seen.add((quote.line, quote.quote))
        kept.append(quote)
    return kept


def segments_analyse(turns: Sequence[Turn], analyses: Sequence[UtteranceAnalysis]) -> list[Segment]:
    segments = []
    for index, (begin, end) in enumerate(_segments_bounds(turns), start=1):
        part, part_analyses = turns[begin:end], analyses[begin:end]
        segments.append(
            Segment(
                index=index,
                first_line=part[0].line,
                last_line=part[-1].line,
                start=part[0].start,
                end=part[-1].end if part[-1].end is not None else part[-1].start,
                student_talk_share=talk_share(part),
                scores=_segment_scores(part, part_analyses),
            )
        )
    return segments


# --- Highlights, missed opportunities, suggestions -----------------------------------------------


def _shares_words_with(shared: set[str]) -> Callable[[str], bool]:
    def prefer(sentence: str) -> bool:
        return bool(content_words(sentence) & shared) and not BARE_EVALUATION.match(sentence)

    return prefer


def _highlights(turns: Sequence[Turn], analyses: Sequence[UtteranceAnalysis]) -> list[Moment]:
    found: list[tuple[float, Moment]] = []
    for i, (turn, analysis) in enumerate(zip(turns, analyses, strict=True)):
        if turn.role != "teacher":
            continue
        previous = turns[i - 1] if i else None
        following = turns[i + 1] if i + 1 < len(turns) else None
        following_reasoning = (
            following is not None and following.role == "student" and analyses[i + 1].student_talk == "reasoning"
        )
        student_words = content_words(previous.text) if previous is not None else set()
        if (
            analysis.uptake == 2
            and previous is not None
            and previous.role == "student"
            and not BARE_EVALUATION.match(turn.text)
            and len(words(turn.text)) >= 5
        ):
            found.append(
                (
                    2.0 + (analysis.uptake_score or 0),
                    Moment(
                        "highlight",
                        turn.line,
                        turn.speaker,
                        quote_for(turn, prefer=_shares_words_with(student_words)),
                        "You built on a student's idea",
                        f"Your reply takes up what {previous.speaker} said at line {previous.line} "
                        "instead of moving on.",
                        move=analysis.move,
                        related_line=previous.line,
                    ),
                )
            )
        elif analysis.move == "pressing_reasoning" and following_reasoning:
            found.append(
                (
                    2.5,
                    Moment(
                        "highlight",
                        turn.line,
                        turn.speaker,
                        quote_for(turn, prefer=lambda s: bool(PATTERNS["pressing_reasoning"].search(s))),
                        "You pressed for reasoning, and got it",
                        f"{following.speaker if following else 'A student'} answered with a reason at line "
                        f"{following.line if following else ''}.",
                        move=analysis.move,
                        related_line=following.line if following else None,
                    ),
                )
            )
        elif analysis.move in ("revoicing", "relating"):
            found.append(
                (
                    1.5,
                    Moment(
                        "highlight",
                        turn.line,
                        turn.speaker,
                        quote_for(turn),
                        f"{MOVES[analysis.move]}",
                        "Revoicing a student's idea, or asking others to respond to it, keeps students' "
                        "thinking at the centre.",
                        move=analysis.move,
                        related_line=previous.line if previous else None,
                    ),
                )
            )
        elif (
            analysis.question == "open"
            and following is not None
            and following.role == "student"
            and len(words(following.text)) >= 12
        ):
            found.append(
                (
                    1.2,
                    Moment(
                        "highlight",
                        turn.line,
                        turn.speaker,
                        quote_for(turn, prefer=lambda s: s.endswith("?")),
                        "An open question that got students talking",
                        f"{following.speaker} answered at length at line {following.line}.",
                        move="open_question",
                        related_line=following.line,
                    ),
                )
            )
    return _spread([m for _score, m in sorted(found, key=lambda item: -item[0])], limit=5)


def _spread(moments: list[Moment], *, limit: int, gap: int = 3) -> list[Moment]:
    """The best moments, at most one within `gap` lines of another."""
    chosen: list[Moment] = []
    for moment in moments:
        if all(abs(moment.line - other.line) > gap for other in chosen):
            chosen.append(moment)
        if len(chosen) == limit:
            break
    return sorted(chosen, key=lambda m: m.line)


def _later_return(turns: Sequence[Turn], index: int, *, window: int = 6) -> bool:
    """Did a later teacher turn (within `window` turns) come back to the content words of turn `index`?"""
    idea = content_words(turns[index].text)
    if len(idea) < 2:
        return True
    for turn in turns[index + 2 : index + 2 + window]:
        if turn.role == "teacher" and len(idea & content_words(turn.text)) >= 2:
            return True
    return False


def _missed(turns: Sequence[Turn], analyses: Sequence[UtteranceAnalysis]) -> list[Moment]:
    """Detected moments: reasoning met with a low-uptake reply, runs of closed questions, ideas left behind."""
    found: list[tuple[float, Moment]] = []
    for i, (turn, analysis) in enumerate(zip(turns, analyses, strict=True)):
        if turn.role == "student" and analysis.student_talk == "reasoning" and i + 1 < len(turns):
            reply, reply_analysis = turns[i + 1], analyses[i + 1]
            if reply.role == "teacher" and reply_analysis.uptake is not None and reply_analysis.uptake == 0:
                found.append(
                    (
                        3.0 - (reply_analysis.uptake_score or 0),
                        Moment(
                            "missed",
                            turn.line,
                            turn.speaker,
                            quote_for(turn, prefer=lambda s: bool(REASONING_MARKERS.search(s))),
                            "A student's reasoning met with a reply that moved on",
                            f"{turn.speaker} gave a reason; the reply at line {reply.line} did not take it up "
                            "(uptake 0).",
                            move="pressing_reasoning",
                            related_line=reply.line,
                        ),
                    )
                )
            elif reply.role == "teacher" and not _later_return(turns, i) and (reply_analysis.uptake or 0) <= 1:
                found.append(
                    (
                        2.0,
                        Moment(
                            "missed",
                            turn.line,
                            turn.speaker,
                            quote_for(turn, prefer=lambda s: bool(REASONING_MARKERS.search(s))),
                            "A student's idea nobody returned to",
                            f"No later teacher turn came back to what {turn.speaker} said here.",
                            move="revoicing",
                            related_line=reply.line,
                        ),
                    )
                )
        if (
            turn.role == "teacher"
            and analysis.question_style == "funnelling"
            and (i < 2 or analyses[i - 2].question_style != "funnelling")
        ):
            run_lines = [a.line for a in analyses[i:] if a.question_style == "funnelling"][:6]
            found.append(
                (
                    1.5,
                    Moment(
                        "missed",
                        turn.line,
                        turn.speaker,
                        quote_for(turn, prefer=lambda s: s.endswith("?")),
                        "A run of closed questions",
                        f"Closed questions one after another from line {turn.line} "
                        f"(lines {', '.join(map(str, run_lines))}): "
                        "students answer a word at a time while the teacher does the thinking.",
                        move="open_question",
                        related_line=run_lines[-1] if run_lines else None,
                    ),
                )
            )
        if (
            turn.role == "teacher"
            and BARE_EVALUATION.match(turn.text)
            and i
            and turns[i - 1].role == "student"
            and analyses[i - 1].student_talk == "short_answer"
        ):
            student = turns[i - 1]
            found.append(
                (
                    1.0,
                    Moment(
                        "missed",
                        student.line,
                        student.speaker,
                        quote_for(student),
                        "A short answer accepted without a follow-up",
                        f"The reply at line {turn.line} (“{turn.text.strip()}”) closed the exchange; "
                        f"asking how {_who(student.speaker)} "
                        "knows would have opened it.",
                        move="pressing_reasoning",
                        related_line=turn.line,
                    ),
                )
            )
    return _spread([m for _score, m in sorted(found, key=lambda item: -item[0])], limit=6)


SUGGESTION_TEXT = {
    "pressing_reasoning": "After line {line}, ask {speaker} for the reason behind the answer before moving on, for "
    "example “How do you know?” or “Why does that work?”, then wait for the answer.",
    "revoicing": "After line {line}, revoice {speaker}'s idea (“So you're saying …, is that right?”) and ask the class "
    "whether they agree, so the idea is not lost.",
    "open_question": "From line {line}, replace the chain of closed questions with one open question, such as "
    "“What do you notice?” or “How could we figure this out?”, and let students do the reasoning.",
    "relating": "After line {line}, ask another student to respond to {speaker}'s idea: “Who can add on to that?” or "
    "“Do you agree? Why?”.",
    "open_question_single": "At line {line}, ask the question so that it has more than one good answer, such as "
    "“What do you notice?” or “How did you decide?”, and let students explain.",
    "wait_time": "After the question at line {line}, wait three to five seconds before calling on someone or answering "
    "it yourself.",
    "student_talk": "Around line {line}, hand the thinking to students for a moment (“Turn to your partner and explain "
    "how you got it”) before you explain.",
    "relating_question": "At line {line}, before answering {speaker}'s question yourself, hand it to the class: "
    "“What do others think?” or “Who has an idea about that?”.",
    "one_question": "At line {line}, ask one of these questions, the one that makes students think most, and wait for "
    "its answer before asking the next.",
}

# How often a move may already appear in a segment's teacher turns before recommending it is redundant.
ALREADY_FREQUENT = {
    "pressing_reasoning": 0.2,
    "revoicing": 0.2,
    "relating": 0.15,
    "open_question": 0.4,
    "wait_time": 0.6,
    "student_talk": 0.45,
    "one_question": 0.9,
}
# A student's question about the content (not about the routine: "Can I go?", "Do we just play one game?").
STUDENT_CONTENT_QUESTION = re.compile(
    r"\b(what if|if|why|how (do|does|did|can|come|many|much)|what (is|does|do|would)|is it|does it|would it)\b", re.I
)


def stacked_questions(text: str) -> int:
    """How many questions a turn asks (sentences ending with a question mark)."""
    return sum(1 for s in sentences(text) if s.endswith("?"))


def _move_present(move: str, analysis: UtteranceAnalysis, turn: Turn | None = None) -> bool:
    if move == "one_question":
        return turn is not None and stacked_questions(turn.text) == 1
    if move == "open_question":
        return analysis.question == "open"
    if move == "revoicing":
        return analysis.move in ("revoicing", "restating") or analysis.uptake == 2
    return analysis.move == move


def suggestion_is_redundant(
    suggestion: Moment, turns: Sequence[Turn], analyses: Sequence[UtteranceAnalysis], segments: Sequence[Segment]
) -> str:
    """Why a suggestion points at something the teacher already did ("" when it does not).

    Redundant when the recommended move is in the teacher's turn at the line it points at or in the next two
    teacher turns, or is frequent in that segment's teacher turns (`ALREADY_FREQUENT`).
    """
    index = next((i for i, t in enumerate(turns) if t.line == suggestion.line), None)
    if index is None:
        return "it points at no line of the transcript"
    move = suggestion.move
    if move == "wait_time":
        analysis = analyses[index]
        return (
            ""
            if analysis.wait_seconds is not None and analysis.wait_seconds < 2
            else "the teacher already waited there"
        )
    segment = next((s for s in segments if s.first_line <= suggestion.line <= s.last_line), None)
    if move == "student_talk":
        return (
            "students already do much of the talking there"
            if segment and segment.student_talk_share >= ALREADY_FREQUENT[move]
            else ""
        )
    if move == "one_question" and stacked_questions(turns[index].text) < 3:
        return "the turn it points at does not stack questions"
    window = range(index, min(len(turns), index + 5))
    nearby = [(turns[j], analyses[j]) for j in window if turns[j].role == "teacher"][:2]
    if move == "one_question":
        nearby = nearby[1:]  # the turn pointed at stacks its questions; did the teacher narrow down right after?
    present = [a for t, a in nearby if _move_present(move, a, t)]
    if present:
        return f"the teacher already did it at line {present[0].line}"
    if segment is not None:
        in_segment = [
            (t, a)
            for t, a in zip(turns, analyses, strict=True)
            if segment.first_line <= t.line <= segment.last_line and t.role == "teacher"
        ]
        if move == "open_question":
            asked = [a for _t, a in in_segment if a.question]
            rate = sum(1 for a in asked if a.question == "open") / len(asked) if asked else 0.0
        elif move == "one_question":
            asked_turns = [t for t, a in in_segment if a.question]
            rate = (
                sum(1 for t in asked_turns if stacked_questions(t.text) == 1) / len(asked_turns) if asked_turns else 0.0
            )
        else:
            rate = sum(1 for t, a in in_segment if _move_present(move, a, t)) / len(in_segment) if in_segment else 0.0
        if rate >= ALREADY_FREQUENT[move]:
            return f"the teacher already does it often in that part of the lesson ({round(100 * rate)}% of turns)"
    return ""


def _who(speaker: str) -> str:
    return "the student" if STUDENT_GENERIC.match(speaker.strip()) else speaker


def _long_sentence(sentence: str) -> bool:
    return len(words(sentence)) >= 10


def _suggestion(
    turn: Turn,
    move: str,
    title: str,
    detail: str,
    *,
    about: Turn | None = None,
    related: int | None = None,
    wording: str = "",
) -> Moment:
    """A suggestion quoting the line it points at; `about` is the student's turn it responds to, if any."""
    prefer: Callable[[str], bool] = _long_sentence if move == "student_talk" else (lambda s: s.endswith("?"))
    return Moment(
        "suggestion",
        turn.line,
        turn.speaker,
        quote_for(turn, prefer=prefer),
        title,
        detail,
        move=move,
        related_line=related,
        text=SUGGESTION_TEXT[wording or move].format(
            line=turn.line, speaker=_who(about.speaker) if about else "the student"
        ),
    )


def _suggestion_candidates(
    turns: Sequence[Turn], analyses: Sequence[UtteranceAnalysis], missed: list[Moment], segments: Sequence[Segment]
) -> list[Moment]:
    """One candidate per missed opportunity, plus the generic advice a coach might give for each segment (pointed
    at its most typical line): the generic ones are what the redundancy check exists for.

    A suggestion about responding to a student points at the student's line (its quote is the student's words);
    one about the teacher's own questions or explanations points at the teacher's line."""
    line_of = {t.line: t for t in turns}
    candidates = []
    for moment in missed:
        turn = line_of[moment.line]
        reply = line_of.get(moment.related_line) if moment.related_line else None
        detail = moment.detail
        candidates.append(
            _suggestion(
                turn,
                moment.move,
                moment.title,
                detail,
                about=turn if turn.role == "student" else None,
                related=reply.line if reply else None,
            )
        )
    for segment in segments:
        part = [
            (t, a) for t, a in zip(turns, analyses, strict=True) if segment.first_line <= t.line <= segment.last_line
        ]
        teacher = [(t, a) for t, a in part if t.role == "teacher"]
        if not teacher:
            continue
        closed = [(t, a) for t, a in teacher if a.question == "closed"]
        for t, _a in closed[:2]:
            candidates.append(
                _suggestion(
                    t,
                    "open_question",
                    "Open the question up",
                    f"A closed question at line {t.line}, where an open one could ask for students' thinking.",
                    wording="open_question_single",
                )
            )
        for t, a in teacher:
            if a.question and a.wait_seconds is not None:
                candidates.append(
                    _suggestion(
                        t, "wait_time", "More wait time", f"{a.wait_seconds:g} seconds passed before the next turn."
                    )
                )
                break
        index_of = {t.line: i for i, t in enumerate(turns)}
        replies = []
        for t, a in teacher:
            i = index_of[t.line]
            if a.uptake is not None and i and len(words(turns[i - 1].text)) >= 4:
                replies.append((turns[i - 1], t, a))
        for rank, (student, t, a) in enumerate(sorted(replies, key=lambda item: item[2].uptake_score or 0)[:2]):
            candidates.append(
                _suggestion(
                    student,
                    "pressing_reasoning",
                    "Ask for the reasoning",
                    f"The reply at line {t.line} took up little of this answer (uptake {a.uptake}).",
                    about=student,
                    related=t.line,
                )
            )
            if rank:
                continue  # bringing others in: once per part, at its least taken-up answer
            candidates.append(
                _suggestion(
                    student,
                    "relating",
                    "Bring in other students",
                    f"Only the teacher responded to this answer (line {t.line}).",
                    about=student,
                    related=t.line,
                )
            )
        # A student's question about the content that the teacher answered at once: hand it to the class.
        asked_by_students = 0
        for t, _a in part:
            i = index_of[t.line]
            if (
                t.role == "student"
                and t.text.rstrip().endswith("?")
                and len(words(t.text)) >= 5
                and STUDENT_CONTENT_QUESTION.search(t.text)
                and i + 1 < len(turns)
                and turns[i + 1].role == "teacher"
            ):
                candidates.append(
                    _suggestion(
                        t,
                        "relating",
                        "Hand a student's question to the class",
                        f"{t.speaker} asked a question about the work; "
                        f"the teacher answered it at line {turns[i + 1].line}.",
                        about=t,
                        related=turns[i + 1].line,
                        wording="relating_question",
                    )
                )
                asked_by_students += 1
                if asked_by_students == 2:
                    break
        # Several questions in one breath: students answer the last, or none.
        stacked = [t for t, _a in teacher if stacked_questions(t.text) >= 3]
        for t in stacked[:2]:
            candidates.append(
                _suggestion(
                    t,
                    "one_question",
                    "One question at a time",
                    f"The turn at line {t.line} asks {stacked_questions(t.text)} questions in a row.",
                )
            )
        longest = max(teacher, key=lambda item: len(words(item[0].text)))[0]
        if len(words(longest.text)) >= 40:
            candidates.append(
                _suggestion(
                    longest,
                    "student_talk",
                    "Let students explain",
                    f"A long explanation by the teacher ({len(words(longest.text))} words) at line {longest.line}.",
                )
            )
    return candidates


def _varied(suggestions: list[Moment], *, limit: int, per_move: int = 2) -> list[Moment]:
    """At most `per_move` suggestions of one kind while others are left (a coach does not repeat one advice)."""
    chosen: list[Moment] = []
    counts: Counter[str] = Counter()
    for suggestion in suggestions:
        if counts[suggestion.move] < per_move:
            chosen.append(suggestion)
            counts[suggestion.move] += 1
    for suggestion in suggestions:  # fill up when the varied ones are too few
        if len(chosen) >= min(limit, 3):
            break
        if suggestion not in chosen:
            chosen.append(suggestion)
    return sorted(chosen[:limit], key=lambda m: m.line)


def suggestions_select(
    turns: Sequence[Turn],
    analyses: Sequence[UtteranceAnalysis],
    missed: list[Moment],
    segments: Sequence[Segment],
    *,
    limit: int = 6,
) -> tuple[list[Moment], dict[str, Any]]:
    """The candidates, minus the redundant and the unverifiable ones; the figures of the check."""
    line_of = {t.line: t for t in turns}
    candidates = _suggestion_candidates(turns, analyses, missed, segments)
    kept: list[Moment] = []
    reasons: Counter[str] = Counter()
    seen: set[tuple[int, str]] = set()
    for candidate in candidates:
        reason = suggestion_is_redundant(candidate, turns, analyses, segments)
        if reason:
            reasons[reason.split(" at line")[0].split(" (")[0]] += 1
            continue
        if not quote_is_verbatim(candidate.quote, line_of[candidate.line]) or (candidate.line, candidate.move) in seen:
            continue
        seen.add((candidate.line, candidate.move))
        kept.append(candidate)
    redundant = sum(reasons.values())
    kept = _varied(_spread(kept, limit=len(kept), gap=0), limit=limit)  # one suggestion per line
    check = {
        "candidates": len(candidates),
        "redundant": redundant,
        "redundant_share": round(redundant / len(candidates), 3) if candidates else 0.0,
        "redundant_reasons": dict(reasons),
        "kept": len(kept),
    }
    return kept, check


def lesson_analyse(
    turns: Sequence[Turn], *, uptake: Callable[[list[tuple[str, str]]], list[tuple[float, int]]]
) -> LessonAnalysis:
    """The whole analysis of one lesson. `turns` in order, lines unique; `uptake` scores pairs in a batch."""
    analyses = utterances_analyse(turns, uptake)
    segments = segments_analyse(turns, analyses)
    line_of = {t.line: t for t in turns}
    highlights = _verbatim(_highlights(turns, analyses), line_of)
    missed = _verbatim(_missed(turns, analyses), line_of)
    suggestions, check = suggestions_select(turns, analyses, missed, segments)
    teacher = [a for t, a in zip(turns, analyses, strict=True) if t.role == "teacher"]
    questions = [a for a in teacher if a.question]
    uptakes = [a.uptake for a in teacher if a.uptake is not None]
    waits = [a.wait_seconds for a in teacher if a.wait_seconds is not None]
    metrics = {
        "turns": len(turns),
        "teacher_turns": len(teacher),
        "student_turns": len(turns) - len(teacher),
        "move_counts": dict(Counter(a.move for a in teacher)),
        "questions": len(questions),
        "open_questions": sum(1 for a in questions if a.question == "open"),
        "open_question_share": round(sum(1 for a in questions if a.question == "open") / len(questions), 3)
        if questions
        else None,
        "funnelling_questions": sum(1 for a in teacher if a.question_style == "funnelling"),
        "focusing_questions": sum(1 for a in teacher if a.question_style == "focusing"),
        "mean_uptake": round(sum(uptakes) / len(uptakes), 3) if uptakes else None,
        "pressing_reasoning": sum(1 for a in teacher if a.move == "pressing_reasoning"),
        "pressing_reasoning_per_100_teacher_turns": round(
            100 * sum(1 for a in teacher if a.move == "pressing_reasoning") / len(teacher), 1
        )
        if teacher
        else None,
        "student_reasoning_turns": sum(1 for a in analyses if a.student_talk == "reasoning"),
        "mean_wait_seconds": round(sum(waits) / len(waits), 1) if waits else None,
        "suggestion_check": check,
    }
    return LessonAnalysis(
        utterances=analyses,
        segments=segments,
        highlights=highlights,
        missed_opportunities=missed,
        suggestions=suggestions,
        student_talk_share=talk_share(turns),
        metrics=metrics,
    )
