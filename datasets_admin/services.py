"""Writes of the data sets app: uploads of lectures and comments, classification, linking, corrections,
and the registry that every app registers its data sets through."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from core.errors import ApplicationError
from core.models import Job
from core.services import job_create, job_progress_set
from datasets_admin import app_datasets
from datasets_admin import classifier as clf
from datasets_admin.models import (
    CATEGORIES,
    CONFUSED_CATEGORIES,
    ClassifierVersion,
    Comment,
    CommentCorrection,
    Dataset,
    DatasetRow,
    DatasetVersion,
    Lecture,
    LectureCourse,
    Passage,
)
from datasets_admin.parsers import (
    MAX_UPLOAD_BYTES,
    FileRefused,
    ParsedComment,
    ParsedLecture,
    Refusal,
    UploadedFile,
    comments_parse,
    metadata_parse,
    passages_build,
    time_mentioned,
    transcript_parse,
    uploads_expand,
)
from datasets_admin.static_embedding import DIMENSIONS, STATIC_EMBEDDING_NAME, static_embed
from models_runtime import api as models_api
from tutor.selectors import session_export_rows, training_pair_rows

UPLOAD_DIR_NAME = "dataset-uploads"
MAX_FILES_PER_UPLOAD = 500
SIGHT_LICENSE = "MIT (SIGHT, Wang et al. 2023; lectures from MIT OpenCourseWare, CC BY-NC-SA)"
UNSORTED_COURSE = "unsorted"
PREVIEW_ROWS = 5
DEMO_DATA_DIR = Path(__file__).resolve().parent / "demo_data"
SHIPPED_CLASSIFIER = DEMO_DATA_DIR / "comment_classifier.json"
ANNOTATED_COMMENTS = DEMO_DATA_DIR / "sight_annotated.csv"


def _vector(blob: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(blob), dtype=np.float32)


def text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def comment_vectors(
    parameters: dict[str, Any], texts: Sequence[str], cache: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """The vectors a classifier version reads: MiniLM's (the default) or the static table's."""
    if parameters.get("embedding") == STATIC_EMBEDDING_NAME:
        return static_embed(list(texts))
    return _embed(texts, cache)


def _stored_or_embedded(parameters: dict[str, Any], comments: Sequence[Comment]) -> np.ndarray:
    """Stored comment vectors where they are of this version's embedding, else embedded now."""
    size = DIMENSIONS if parameters.get("embedding") == STATIC_EMBEDDING_NAME else 384
    missing = [c for c in comments if len(c.embedding or b"") != size * 4]
    if missing:
        for comment, vector in zip(missing, comment_vectors(parameters, [c.text for c in missing]), strict=True):
            comment.embedding = vector.tobytes()
    return np.vstack([_vector(c.embedding) for c in comments]) if comments else np.zeros((0, size), np.float32)


def _embed(texts: Sequence[str], cache: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """MiniLM vectors through models_runtime; `cache` (text key -> vector) spares known texts (the demo's)."""
    if not cache:
        unique = list(dict.fromkeys(texts))  # a text said twice is embedded once
        if len(unique) == len(texts):
            return models_api.embed(list(texts))
        found = dict(zip(unique, models_api.embed(unique), strict=True))
        return np.vstack([found[text] for text in texts]) if texts else np.zeros((0, 384), np.float32)
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    missing = []
    for i, text in enumerate(texts):
        known = cache.get(text_key(text))
        if known is None:
            missing.append(i)
        else:
            vectors[i] = known
    if missing:
        vectors[missing] = models_api.embed([texts[i] for i in missing])
    return vectors


# --- Import: the one path that the upload page, the commands and the benchmark share ---------------


@dataclass
class ImportReport:
    lectures: int = 0
    lectures_updated: int = 0
    comments: int = 0
    comments_unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    course_ids: set[int] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lectures": self.lectures,
            "lectures_updated": self.lectures_updated,
            "comments": self.comments,
            "comments_unchanged": self.comments_unchanged,
            "refused_count": len(self.refused),
            "refused": [r.as_dict() for r in self.refused[:500]],
            "refused_files": sorted({r.file for r in self.refused if r.row is None}),
        }


def _timed(report: ImportReport, key: str, count: int) -> Callable[[], None]:
    started = timezone.now()

    def done() -> None:
        report.timings[key] = report.timings.get(key, 0.0) + (timezone.now() - started).total_seconds()
        report.counts[key] = report.counts.get(key, 0) + count

    return done


def data_import(
    *,
    files: Sequence[UploadedFile],
    course_code: str = "",
    user: Any = None,
    progress: Callable[[int, int, str], None] | None = None,
    embedding_cache: dict[str, np.ndarray] | None = None,
) -> ImportReport:
    """Import transcripts (with their metadata) and comments from uploaded files, zips included.

    Each transcript file is stored in its own transaction, and each comment file in its own: a refused
    file stores nothing and does not stop the others. Comments come after transcripts, so one upload
    may hold a lecture and the comments on it.
    """
    report = ImportReport()
    course_code = slugify(course_code)[:100] if course_code else ""
    expanded, refused = uploads_expand(files)
    report.refused.extend(refused)
    metadata: dict[str, dict[str, Any]] = {}
    transcripts: list[UploadedFile] = []
    comment_files: list[UploadedFile] = []
    for upload in expanded:
        lower = upload.name.lower()
        if lower.endswith((".txt", ".vtt", ".srt")):
            transcripts.append(upload)
        elif lower.endswith(".csv"):
            comment_files.append(upload)
        elif lower.endswith(".json"):
            if _looks_like_metadata(upload.data):
                try:
                    meta = metadata_parse(upload.name, upload.data)
                except FileRefused as problem:
                    report.refused.append(Refusal(upload.name, problem.message))
                    continue
                metadata[meta["video_id"]] = meta
                metadata[Path(upload.name).stem] = meta
            else:
                comment_files.append(upload)
        else:
            report.refused.append(
                Refusal(upload.name, "Not a transcript (.txt, .vtt, .srt), comments (.csv, .json) or metadata (.json).")
            )
    total = len(transcripts) + len(comment_files)
    step = 0

    parsed: list[ParsedLecture] = []
    done = _timed(report, "parsing", len(transcripts))
    for upload in transcripts:
        try:
            parsed.append(transcript_parse(upload.name, upload.data, metadata=metadata.get(Path(upload.name).stem)))
        except FileRefused as problem:
            report.refused.append(Refusal(upload.name, problem.message))
    done()
    lectures = lectures_store(
        parsed=parsed, course_code=course_code, user=user, report=report, progress=progress, cache=embedding_cache
    )
    step += len(transcripts)
    if progress:
        progress(step, total, f"{len(lectures)} lecture{'s' if len(lectures) != 1 else ''} stored")

    for upload in comment_files:
        done = _timed(report, "parsing", 0)
        try:
            rows, row_refusals = comments_parse(upload.name, upload.data)
        except FileRefused as problem:
            done()
            report.refused.append(Refusal(upload.name, problem.message))
        else:
            report.counts["parsing"] = report.counts.get("parsing", 0) + len(rows)
            done()
            report.refused.extend(row_refusals)
            comments_store(rows=rows, file=upload.name, user=user, report=report, cache=embedding_cache)
        step += 1
        if progress:
            progress(step, total, f"{upload.name.rsplit('/', 1)[-1]} read")
    course_ids = {lecture.course_id for lecture in lectures} | report.course_ids
    if course_ids:
        datasets_register_for_lectures(course_ids=course_ids)
    return report


def _looks_like_metadata(data: bytes) -> bool:
    head = data[:2000].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{") and b'"video_id"' in head and b'"comments"' not in head


def _course_for(*, lecture: ParsedLecture, course_code: str) -> LectureCourse:
    code = course_code or slugify(lecture.course_code)[:100] or UNSORTED_COURSE
    title = lecture.course_title or (course_code or lecture.course_code or "Unsorted lectures")
    course, _ = LectureCourse.objects.get_or_create(code=code, defaults={"title": title[:300]})
    return course


def lectures_store(
    *,
    parsed: Sequence[ParsedLecture],
    course_code: str = "",
    user: Any = None,
    report: ImportReport | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    cache: dict[str, np.ndarray] | None = None,
) -> list[Lecture]:
    """Store lectures and their passages (embedded); a lecture uploaded again is replaced, its comments kept."""
    report = report or ImportReport()
    built = [(lecture, passages_build(lecture)) for lecture in parsed]
    done = _timed(report, "passage_embedding", sum(len(p) for _, p in built))
    # Passages are embedded with the static table (MiniLM-distilled): linking compares them with comments in
    # the same space, at a table look-up's cost (MiniLM over SIGHT's 14,000 passages is most of an hour here).
    vectors = static_embed([passage.text for _, passages in built for passage in passages]) if built else None
    done()
    stored: list[Lecture] = []
    offset = 0
    done = _timed(report, "database_writes", len(built))
    for index, (item, passages) in enumerate(built):
        embeddings: Any = vectors[offset : offset + len(passages)] if vectors is not None else []
        offset += len(passages)
        try:
            with transaction.atomic():
                lecture, created = _lecture_write(
                    item=item, passages=passages, embeddings=embeddings, course_code=course_code, user=user
                )
        except (IntegrityError, ValueError) as error:
            report.refused.append(Refusal(item.file, f"The lecture could not be stored: {error}."))
            continue
        if created:
            report.lectures += 1
        else:
            report.lectures_updated += 1
        stored.append(lecture)
        if progress and index % 10 == 0:
            progress(index, max(len(built), 1), f"Storing lecture {index + 1} of {len(built)}")
    done()
    return stored


def _lecture_write(
    *, item: ParsedLecture, passages: list[Any], embeddings: Any, course_code: str, user: Any
) -> tuple[Lecture, bool]:
    course = _course_for(lecture=item, course_code=course_code)
    lecture = Lecture.objects.select_for_update().filter(video_id=item.video_id).first()
    created = lecture is None
    if lecture is None:
        lecture = Lecture(video_id=item.video_id, uploaded_by=user)
    lecture.course = course
    lecture.title = item.title
    lecture.url = item.url
    lecture.recorded_on = item.recorded_on
    lecture.transcript = item.text
    lecture.is_timed = item.is_timed
    lecture.duration_seconds = item.segments[-1].end if item.is_timed else None
    lecture.source_name = item.file[:300]
    lecture.metadata = item.metadata
    lecture.full_clean(exclude=["uploaded_by"])
    lecture.save()
    if not created:
        lecture.passages.all().delete()
    Passage.objects.bulk_create(
        [
            Passage(
                lecture=lecture,
                position=position,
                text=passage.text,
                start_seconds=passage.start,
                end_seconds=passage.end,
                embedding=np.asarray(embeddings[position], dtype=np.float32).tobytes() if len(embeddings) else b"",
            )
            for position, passage in enumerate(passages)
        ]
    )
    if not created:
        comments_link(comments=list(lecture.comments.all()))
    return lecture, created


def comments_store(
    *,
    rows: Sequence[ParsedComment],
    file: str,
    user: Any = None,
    report: ImportReport | None = None,
    cache: dict[str, np.ndarray] | None = None,
) -> list[Comment]:
    """Store one file's good rows in one transaction; rows for unknown lectures are refused by name."""
    report = report or ImportReport()
    video_ids = {row.video_id for row in rows}
    lectures = {
        lecture.video_id: lecture for lecture in Lecture.objects.filter(video_id__in=video_ids).select_related("course")
    }
    existing = set(
        Comment.objects.filter(lecture__video_id__in=video_ids)
        .exclude(external_id="")
        .values_list("lecture__video_id", "external_id")
    )
    kept: list[ParsedComment] = []
    for row in rows:
        if row.video_id not in lectures:
            report.refused.append(
                Refusal(file, f"no lecture has video id {row.video_id!r}: upload its transcript first.", row=row.row)
            )
            continue
        if row.external_id and (row.video_id, row.external_id) in existing:
            report.comments_unchanged += 1
            continue
        kept.append(row)
    if not kept:
        return []
    version = classifier_active()
    done = _timed(report, "classification", len(kept))
    embeddings = comment_vectors(version.parameters, [row.text for row in kept], cache)
    scores = clf.classifier_scores(version.parameters, embeddings, [row.text for row in kept])
    labels = clf.classifier_labels(version.parameters, scores)
    done()
    provenance = _provenance(version)
    comments = [
        Comment(
            lecture=lectures[row.video_id],
            external_id=row.external_id,
            text=row.text,
            source_name=file[:300],
            embedding=embeddings[index].tobytes(),
            categories=labels[index],
            scores={c: round(float(s), 4) for c, s in zip(CATEGORIES, scores[index], strict=True)},
            provenance=provenance,
            uploaded_by=user,
        )
        for index, row in enumerate(kept)
    ]
    done = _timed(report, "linking", len(comments))
    _links_compute(comments)
    done()
    done = _timed(report, "database_writes", len(comments))
    with transaction.atomic():
        Comment.objects.bulk_create(comments, batch_size=500)
        for lecture in {row.video_id: lectures[row.video_id] for row in kept}.values():
            title = next(
                (row.playlist_name for row in kept if row.video_id == lecture.video_id and row.playlist_name), ""
            )
            # SIGHT's metadata names the playlist by id only; its comments carry the course's name.
            if title and lecture.course.title.lower() == lecture.course.code.lower():
                LectureCourse.objects.filter(pk=lecture.course_id).update(title=title[:300])
    done()
    report.comments += len(comments)
    report.course_ids |= {lecture.course_id for lecture in lectures.values()}
    return comments


# --- Linking a confused comment to the passage it is about -----------------------------------------


def _links_compute(comments: Sequence[Comment]) -> None:
    """Set passage, method and score on unsaved or saved comments (not saved here)."""
    wanted = [c for c in comments if set(c.categories) & set(CONFUSED_CATEGORIES)]
    # By identity: unsaved comments all have pk None, and `in` on a list of models is quadratic.
    wanted_ids = {id(c) for c in wanted}
    for comment in comments:
        if id(comment) not in wanted_ids:
            comment.passage, comment.link_method, comment.link_score = None, "", None
    by_lecture: dict[int, list[Comment]] = defaultdict(list)
    for comment in wanted:
        by_lecture[comment.lecture_id].append(comment)
    for lecture_id, group in by_lecture.items():
        passages = list(Passage.objects.filter(lecture_id=lecture_id).order_by("position"))
        if not passages:
            continue
        if all(len(p.embedding or b"") == DIMENSIONS * 4 for p in passages):
            matrix = np.vstack([_vector(p.embedding) for p in passages])
        else:  # stored before passages were embedded with the static table: embedded now (cheap)
            matrix = static_embed([p.text for p in passages])
        texts = static_embed([c.text for c in group])
        for comment, comment_vector in zip(group, texts, strict=True):
            seconds = time_mentioned(comment.text)
            comment.mentioned_seconds = seconds
            if seconds is not None and passages[0].start_seconds is not None:
                hit = next((p for p in passages if (p.end_seconds or 0) >= seconds), passages[-1])
                comment.passage, comment.link_method, comment.link_score = hit, Comment.LinkMethod.TIME, 1.0
                continue
            if not comment_vector.any():
                continue
            similarity = matrix @ comment_vector
            best = int(np.argmax(similarity))
            comment.passage = passages[best]
            comment.link_method = Comment.LinkMethod.SIMILARITY
            comment.link_score = round(float(similarity[best]), 4)


def comments_link(*, comments: Sequence[Comment]) -> None:
    _links_compute(comments)
    Comment.objects.bulk_update(comments, ["passage", "link_method", "link_score", "mentioned_seconds"], batch_size=500)


# --- The classifier ------------------------------------------------------------------------------


def _provenance(version: ClassifierVersion) -> dict[str, Any]:
    return {
        "classifier_version": version.version,
        "features": version.parameters.get("features", ""),
        "embedding_model": version.parameters.get("embedding", "all-MiniLM-L6-v2"),
        "policy_version": "labels-with-corrections-v1",
        "linking": f"time-or-{STATIC_EMBEDDING_NAME}-cosine-v2",
    }


def classifier_active() -> ClassifierVersion:
    """The active comment classifier. The shipped one is installed the first time one is needed, and a
    newer shipped one replaces an older shipped one (never a version trained here, with corrections)."""
    version = ClassifierVersion.objects.filter(is_active=True).first()
    if not SHIPPED_CLASSIFIER.is_file():
        if version is not None:
            return version
        raise ApplicationError("No comment classifier is installed: run `python manage.py train_comment_classifier`.")
    shipped = json.loads(SHIPPED_CLASSIFIER.read_text(encoding="utf-8"))
    # Installed from the shipped file: no job, no corrections (a command's version says job_id="command").
    is_shipped = version is not None and version.job_id == "" and version.corrections_used == 0
    if version is not None and (version.version == shipped["version"] or not is_shipped):
        return version
    if ClassifierVersion.objects.filter(version=shipped["version"]).exists():
        return version or ClassifierVersion.objects.get(version=shipped["version"])
    return classifier_install(artifact=shipped, reclassify=version is not None)


@dataclass
class AnnotatedComment:
    text: str
    split: str
    labels: dict[str, list[int]]


def annotated_comments_read(path: Path) -> list[AnnotatedComment]:
    """SIGHT's annotated CSV (both people's labels); the rows it refuses are left out."""
    import csv
    import io

    from datasets_admin.parsers import comments_parse as parse

    data = path.read_bytes()
    rows, _ = parse(path.name, data)
    splits = {}
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    for number, record in enumerate(reader, start=2):
        splits[number] = record.get("datasplit", "")
    return [AnnotatedComment(row.text, splits.get(row.row, ""), row.human_labels) for row in rows if row.human_labels]


def classifier_train(
    *,
    annotated: Sequence[AnnotatedComment],
    use_corrections: bool = True,
    c_value: float = clf.C_VALUE,
    embedding: str = clf.MINILM,
) -> dict[str, Any]:
    """Train on the annotated comments outside the held-out part (SIGHT's `validation` split) and on
    admins' corrections; measure agreement on the held-out part. Returns the shippable artifact."""
    training = [item for item in annotated if item.split != "validation"]
    heldout = [item for item in annotated if item.split == "validation"]
    texts = [item.text for item in training]
    corrections = list(CommentCorrection.objects.select_related("comment")) if use_corrections else []
    if embedding not in clf.EMBEDDINGS:
        raise ApplicationError(f"{embedding!r} is not an embedding: {', '.join(clf.EMBEDDINGS)}.")
    embedder = {"embedding": embedding}
    vectors = comment_vectors(embedder, texts + [item.text for item in heldout])
    examples = [clf.TrainingExample(item.text, vectors[i], item.labels) for i, item in enumerate(training)]
    by_comment: dict[int, dict[str, list[int]]] = defaultdict(dict)
    comment_objects: dict[int, Comment] = {}
    for correction in corrections:
        # Weighted as both annotators: an admin's correction is a considered decision about this comment.
        by_comment[correction.comment_id][correction.category] = [int(correction.is_present)] * 2
        comment_objects[correction.comment_id] = correction.comment
    corrected = [comment_objects[comment_id] for comment_id in by_comment]
    for comment, vector in zip(corrected, _stored_or_embedded(embedder, corrected), strict=True):
        examples.append(clf.TrainingExample(comment.text, vector, by_comment[comment.pk]))
    parameters = clf.classifier_fit(examples, c_value=c_value, embedding=embedding)
    training_rows = [
        {"comment": e.text, "labels": e.labels, "source": "sight-annotated" if i < len(training) else "correction"}
        for i, e in enumerate(examples)
    ]
    heldout_rows = [{"comment": h.text, "labels": h.labels, "source": "sight-annotated"} for h in heldout]
    held_vectors = vectors[len(training) :]
    predicted = clf.classifier_labels(
        parameters, clf.classifier_scores(parameters, held_vectors, [h.text for h in heldout])
    )
    metrics = clf.agreement(predicted, [h.labels for h in heldout]) if heldout else {}
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return {
        "version": f"comments-lr-{stamp}-{uuid.uuid4().hex[:4]}",
        "parameters": parameters,
        "metrics": metrics,
        "training_size": len(examples),
        "corrections_used": len(by_comment),
        # Not part of the shipped artifact: what classifier_datasets_register records in the registry.
        "_training_rows": training_rows,
        "_heldout_rows": heldout_rows,
    }


def classifier_datasets_register(*, artifact: dict[str, Any], job_id: str) -> dict[str, Any]:
    """Register the classifier's training set and held-out evaluation set, and lock both for `job_id` (the
    job that trained on them): the versions a classifier was trained and measured on never change after.
    Returns {"training": "<slug>@<n>", "evaluation": "<slug>@<n>"} for the classifier's metrics."""
    used = {}
    for key, slug, name, kind, rows in (
        (
            "training",
            "comment-classifier-training",
            "Comment classifier: training comments (SIGHT's annotated train and expansion rows, admins' corrections)",
            Dataset.Kind.TRAINING_SET,
            artifact.pop("_training_rows", []),
        ),
        (
            "evaluation",
            "comment-classifier-heldout",
            "Comment classifier: held-out comments (SIGHT's annotated validation rows)",
            Dataset.Kind.EVALUATION_SET,
            artifact.pop("_heldout_rows", []),
        ),
    ):
        if not rows:
            continue
        version = dataset_register(
            slug=slug,
            name=name,
            kind=kind,
            owner_app="datasets_admin",
            source="SIGHT sample_annotated.csv (Wang et al., BEA 2023), both people's labels; admins' corrections",
            license=SIGHT_LICENSE,
            rows=rows,
        )
        dataset_version_lock(version=version, job_id=job_id)
        used[key] = f"{slug}@{version.number}"
    return used


@transaction.atomic
def classifier_install(*, artifact: dict[str, Any], job_id: str = "", reclassify: bool = True) -> ClassifierVersion:
    """Register a trained classifier as the active one and relabel the stored comments with it."""
    version = ClassifierVersion.objects.create(
        version=artifact["version"],
        parameters=artifact["parameters"],
        metrics=artifact["metrics"],
        training_size=artifact["training_size"],
        corrections_used=artifact.get("corrections_used", 0),
        job_id=job_id,
    )
    ClassifierVersion.objects.filter(is_active=True).update(is_active=False)
    ClassifierVersion.objects.filter(pk=version.pk).update(is_active=True)
    version.refresh_from_db()
    if reclassify:
        comments_reclassify(version=version)
    return version


def comments_reclassify(*, version: ClassifierVersion, batch: int = 2000) -> int:
    """Relabel every stored comment with `version` (from their stored embeddings); corrections stay."""
    corrections: dict[int, dict[str, bool]] = defaultdict(dict)
    for comment_id, category, is_present in CommentCorrection.objects.values_list(
        "comment_id", "category", "is_present"
    ):
        corrections[comment_id][category] = is_present
    provenance = _provenance(version)
    total = 0
    queryset = Comment.objects.order_by("pk")
    last = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last)[:batch])
        if not chunk:
            break
        last = chunk[-1].pk
        vectors = _stored_or_embedded(version.parameters, chunk)
        scores = clf.classifier_scores(version.parameters, vectors, [c.text for c in chunk])
        labels = clf.classifier_labels(version.parameters, scores)
        for comment, row_scores, row_labels in zip(chunk, scores, labels, strict=True):
            comment.scores = {c: round(float(s), 4) for c, s in zip(CATEGORIES, row_scores, strict=True)}
            comment.categories = _apply_corrections(row_labels, corrections.get(comment.pk, {}))
            comment.provenance = provenance
        _links_compute(chunk)
        Comment.objects.bulk_update(
            chunk,
            [
                "scores",
                "categories",
                "provenance",
                "embedding",
                "passage",
                "link_method",
                "link_score",
                "mentioned_seconds",
            ],
            batch_size=500,
        )
        total += len(chunk)
    return total


def _apply_corrections(labels: list[str], corrections: dict[str, bool]) -> list[str]:
    chosen = set(labels)
    for category, is_present in corrections.items():
        if is_present:
            chosen.add(category)
        else:
            chosen.discard(category)
    return [c for c in CATEGORIES if c in chosen]


@transaction.atomic
def comment_label_toggle(*, comment: Comment, category: str, user: Any) -> Comment:
    """One click on a label: it flips, and the flip is kept as a correction the classifier learns from."""
    if category not in CATEGORIES:
        raise ApplicationError(f"{category!r} is not one of the categories: {', '.join(CATEGORIES)}.")
    comment = Comment.objects.select_for_update().get(pk=comment.pk)
    is_present = category not in comment.categories
    CommentCorrection.objects.update_or_create(
        comment=comment, category=category, defaults={"is_present": is_present, "corrected_by": user}
    )
    comment.categories = _apply_corrections(list(comment.categories), {category: is_present})
    _links_compute([comment])
    comment.save(update_fields=["categories", "passage", "link_method", "link_score", "mentioned_seconds"])
    return comment


def classifier_training_start(*, user: Any) -> Job:
    from datasets_admin.tasks import classifier_train_task

    return job_create(
        kind="datasets_admin.classifier_train",
        title="Retrain the comment classifier",
        task=classifier_train_task,
        created_by=user,
        unique_key="datasets_admin.classifier_train",
    )


def classifier_training_run(*, job: Job) -> dict[str, Any]:
    job_progress_set(job=job, progress=0, total=3, message="Embedding the labelled comments")
    artifact = classifier_train(annotated=annotated_comments_read(ANNOTATED_COMMENTS))
    artifact["metrics"]["datasets"] = classifier_datasets_register(artifact=artifact, job_id=str(job.pk))
    job_progress_set(job=job, progress=2, message="Relabelling the stored comments")
    version = classifier_install(artifact=artifact, job_id=str(job.pk))
    return {
        "version": version.version,
        "macro_kappa": version.metrics.get("macro_kappa"),
        "training_comments": version.training_size,
        "corrections_used": version.corrections_used,
    }


# --- Upload jobs ---------------------------------------------------------------------------------


def _upload_root() -> Path:
    return Path(settings.MEDIA_ROOT) / UPLOAD_DIR_NAME


def upload_start(
    *, user: Any, files: Sequence[tuple[str, Any]], course_code: str = "", refused: Sequence[Refusal] = ()
) -> Job:
    """Stage the uploaded files and import them in the background. `files`: (name, file-like or bytes)."""
    from datasets_admin.tasks import upload_import_task

    if not files and not refused:
        raise ApplicationError("Choose at least one file to upload.")
    if len(files) > MAX_FILES_PER_UPLOAD:
        raise ApplicationError(f"At most {MAX_FILES_PER_UPLOAD} files per upload; put more into a zip.")
    if course_code and not re.fullmatch(r"[A-Za-z0-9._\- ]{1,100}", course_code):
        raise ApplicationError("A course code has letters, digits, dots, dashes and spaces only (at most 100).")
    folder = _upload_root() / uuid.uuid4().hex
    folder.mkdir(parents=True)
    staged = []
    try:
        for index, (name, content) in enumerate(files):
            safe = re.sub(r"[^A-Za-z0-9._\-]", "_", Path(str(name)).name)[:150] or "file"
            target = folder / f"{index:04d}-{safe}"
            with target.open("wb") as handle:
                if isinstance(content, bytes):
                    handle.write(content)
                else:
                    for chunk in content.chunks() if hasattr(content, "chunks") else [content.read()]:
                        handle.write(chunk)
            staged.append({"name": Path(str(name)).name[:200], "path": str(target)})
        return job_create(
            kind="datasets_admin.upload",
            title=f"Import {len(files)} file{'s' if len(files) != 1 else ''}",
            task=upload_import_task,
            created_by=user,
            params={
                "files": staged,
                "course": course_code,
                "refused": [r.as_dict() for r in refused],
                "folder": str(folder),
            },
        )
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def upload_run(*, job: Job) -> dict[str, Any]:
    """The upload job's work: import the staged files, report what was refused, remove the staging."""
    params = job.params
    files = []
    too_big: list[Refusal] = []
    try:
        for item in params.get("files", []):
            path = Path(item["path"])
            if not path.is_file():
                raise ApplicationError(f"The staged file {item['name']} is gone; upload it again.")
            if path.stat().st_size > MAX_UPLOAD_BYTES:
                too_big.append(
                    Refusal(item["name"], f"The file is larger than the limit of {MAX_UPLOAD_BYTES // 2**20} MB.")
                )
                continue
            files.append(UploadedFile(item["name"], path.read_bytes()))
        job_progress_set(job=job, progress=0, total=max(len(files), 1), message="Reading the files")

        def progress(done: int, total: int, message: str) -> None:
            job_progress_set(job=job, progress=min(done, max(len(files), 1)), message=message)

        report = data_import(files=files, course_code=params.get("course", ""), user=job.created_by, progress=progress)
    finally:
        folder = params.get("folder")
        if folder and Path(folder).is_relative_to(_upload_root()):
            shutil.rmtree(folder, ignore_errors=True)
    result = report.as_dict()
    early = params.get("refused", []) + [r.as_dict() for r in too_big]
    result["refused"] = early + result["refused"]
    result["refused_count"] += len(early)
    result["refused_files"] = sorted(set(result["refused_files"]) | {r["file"] for r in early if r.get("row") is None})
    return result


# --- The registry --------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


def _schema_of(rows: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Each column, in the order the rows first name it, with its JSON type(s) ("string|null")."""
    types: dict[str, set[str]] = {}
    for row in rows:
        for key, value in row.items():
            types.setdefault(str(key), set()).add(_json_type(value))
    schema = []
    for key, seen in types.items():
        named = sorted(seen - {"null"}) or ["null"]
        if "null" in seen and named != ["null"]:
            named.append("null")
        schema.append({"name": key, "type": "|".join(named)})
    return schema


@transaction.atomic
def dataset_register(
    *,
    slug: str,
    name: str,
    kind: str,
    owner_app: str,
    source: str,
    license: str,
    rows: Iterable[dict[str, Any]],
    schema: list[dict[str, str]] | None = None,
    description: str = "",
) -> DatasetVersion:
    """Register (a new state of) a data set; the one door every app uses.

    The same rows as the latest version change nothing. Different rows replace the latest version's
    rows, unless a job has used that version: then a new version is made and the old stays as it was.

    Returns the version that now holds the rows.
    Raises ApplicationError for a bad slug or kind, or rows that are not JSON objects.
    """
    if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,119}", slug):
        raise ApplicationError(f"{slug!r} is not a data set slug (lower-case letters, digits, - and _).")
    if kind not in Dataset.Kind.values:
        raise ApplicationError(f"{kind!r} is not a kind of data set: {', '.join(Dataset.Kind.values)}.")
    materialised = list(rows)
    for index, row in enumerate(materialised):
        if not isinstance(row, dict):
            raise ApplicationError(f"Row {index + 1} is not an object of column -> value.")
    try:
        encoded = [json.dumps(row, sort_keys=True, ensure_ascii=False, default=str) for row in materialised]
    except (TypeError, ValueError) as error:
        raise ApplicationError(f"The rows cannot be written as JSON: {error}.") from error
    content_hash = hashlib.sha256("\n".join(encoded).encode("utf-8")).hexdigest()
    dataset, _ = Dataset.objects.get_or_create(
        slug=slug, defaults={"name": name[:200], "kind": kind, "owner_app": owner_app[:60], "description": description}
    )
    if (dataset.name, dataset.kind, dataset.description) != (name[:200], kind, description):
        dataset.name, dataset.kind, dataset.description = name[:200], kind, description
        dataset.save(update_fields=["name", "kind", "description"])
    latest = DatasetVersion.objects.select_for_update().filter(dataset=dataset).order_by("-number").first()
    if (
        latest is not None
        and latest.content_hash == content_hash
        and latest.source == source
        and latest.license == license
    ):
        return latest
    clean_rows = [json.loads(text) for text in encoded]
    values = {
        "source": source[:500],
        "license": license[:200],
        "row_count": len(clean_rows),
        "schema": schema or _schema_of(materialised),
        "preview": clean_rows[:PREVIEW_ROWS],
        "content_hash": content_hash,
    }
    if latest is None or latest.is_locked:
        version = DatasetVersion.objects.create(dataset=dataset, number=(latest.number + 1) if latest else 1, **values)
    else:
        version = latest
        for key, value in values.items():
            setattr(version, key, value)
        version.save(update_fields=[*values.keys(), "updated_at"])
        version.rows.all().delete()
    DatasetRow.objects.bulk_create(
        [DatasetRow(version=version, position=i, data=row) for i, row in enumerate(clean_rows)], batch_size=1000
    )
    return version


def dataset_version_lock(*, version: DatasetVersion, job_id: str) -> DatasetVersion:
    """Mark a version as used by a job: from now on it never changes (a new registration makes a new one)."""
    updated = DatasetVersion.objects.filter(pk=version.pk, is_locked=False).update(
        is_locked=True, locked_by_job=str(job_id)[:64], locked_at=timezone.now()
    )
    version.refresh_from_db()
    if not updated and version.locked_by_job != str(job_id)[:64]:
        return version  # already locked by an earlier job: it stays theirs, and immutable
    return version


def datasets_register_for_lectures(*, course_ids: Iterable[int] | None = None) -> list[DatasetVersion]:
    """Register each course's transcripts and comments as data sets (a new version when a job used the last)."""
    versions = []
    courses = (
        LectureCourse.objects.all() if course_ids is None else LectureCourse.objects.filter(pk__in=list(course_ids))
    )
    for course in courses:
        lectures = list(
            course.lectures.order_by("video_id").values(
                "video_id", "title", "url", "recorded_on", "is_timed", "source_name", "transcript"
            )
        )
        if not lectures:
            continue
        versions.append(
            dataset_register(
                slug=f"transcripts-{course.code}"[:120].lower(),
                name=f"Lecture transcripts: {course.title}",
                kind=Dataset.Kind.TRANSCRIPTS,
                owner_app="datasets_admin",
                source="Uploaded by admins",
                license=_license_for(lectures),
                rows=[
                    {**row, "recorded_on": row["recorded_on"].isoformat() if row["recorded_on"] else None}
                    for row in lectures
                ],
            )
        )
        comments = list(
            Comment.objects.filter(lecture__course=course)
            .order_by("lecture__video_id", "pk")
            .values("lecture__video_id", "external_id", "text", "categories", "link_method", "passage__position")
        )
        if comments:
            versions.append(
                dataset_register(
                    slug=f"comments-{course.code}"[:120].lower(),
                    name=f"Student comments: {course.title}",
                    kind=Dataset.Kind.COMMENTS,
                    owner_app="datasets_admin",
                    source="Uploaded by admins; categories from the comment classifier with admins' corrections",
                    license=_license_for(lectures),
                    rows=[
                        {
                            "video_id": c["lecture__video_id"],
                            "comment_id": c["external_id"],
                            "comment": c["text"],
                            "categories": c["categories"],
                            "link_method": c["link_method"],
                            "passage": c["passage__position"],
                        }
                        for c in comments
                    ],
                )
            )
    return versions


def _license_for(lectures: Sequence[Any]) -> str:
    sources = Counter(str(row["source_name"]) for row in lectures)
    if any("sight" in name.lower() for name in sources):
        return SIGHT_LICENSE
    return "As uploaded (the school's own)"


@dataclass(frozen=True)
class _AppDataset:
    """One of the other apps' data sets: what the registry calls it, and the selector that gives its rows."""

    slug: str
    name: str
    kind: str
    owner_app: str
    source: str
    rows: Callable[..., Iterable[dict[str, Any]]]  # rows(user=...), another app's selector
    description: str = ""


_APP_DATASETS: tuple[_AppDataset, ...] = (
    _AppDataset(
        slug="tutoring-sessions",
        name="Tutoring sessions (MathDial layout) with teachers' better replies",
        kind=Dataset.Kind.TUTORING_SESSIONS,
        owner_app="tutor",
        source="Tutorloop tutoring sessions",
        rows=session_export_rows,
    ),
    _AppDataset(
        slug="tutoring-flagged-turns",
        name="Flagged tutor turns with teachers' better replies",
        kind=Dataset.Kind.TUTORING_SESSIONS,
        owner_app="tutor",
        source="Tutorloop tutoring sessions",
        rows=training_pair_rows,
    ),
    _AppDataset(
        slug="graded-answers",
        name="Graded answers with teachers' corrections",
        kind=Dataset.Kind.GRADED_ANSWERS,
        owner_app="grading",
        source="Tutorloop grading: reviewed grades (the grader's label, score and feedback beside the teacher's)",
        rows=app_datasets.graded_answer_rows,
        description="Students are pseudonyms (student-N).",
    ),
    _AppDataset(
        slug="coaching-transcripts",
        name="Coaching transcripts with their analyses",
        kind=Dataset.Kind.COACHING_TRANSCRIPTS,
        owner_app="coaching",
        source="Tutorloop coaching: analysed classroom transcripts, turn by turn, with the report",
        rows=app_datasets.coaching_transcript_rows,
        description="Speakers are pseudonyms (speaker-N) with their role.",
    ),
    _AppDataset(
        slug="reflection-dialogues",
        name="Reflection-question dialogues",
        kind=Dataset.Kind.REFLECTION_DIALOGUES,
        owner_app="coaching.reflection",
        source="Tutorloop reflection questions: the Student-Teacher dialogues, round by round",
        rows=app_datasets.reflection_dialogue_rows,
    ),
    _AppDataset(
        slug="reflection-answers",
        name="Reflection questions and students' answers",
        kind=Dataset.Kind.REFLECTION_DIALOGUES,
        owner_app="coaching.reflection",
        source="Tutorloop reflection questions: assigned questions and the answers students wrote",
        rows=app_datasets.reflection_answer_rows,
        description="Students are pseudonyms (student-N).",
    ),
)


def dataset_sync_from_apps(*, user: Any) -> list[DatasetVersion]:
    """Register the other apps' data sets (the school's own data), read through their selectors only."""
    return [
        dataset_register(
            slug=item.slug,
            name=item.name,
            kind=item.kind,
            owner_app=item.owner_app,
            source=item.source,
            license="The school's own data",
            rows=list(item.rows(user=user)),
            description=item.description,
        )
        for item in _APP_DATASETS
    ]


def lecture_delete(*, lecture: Lecture) -> None:
    course_id = lecture.course_id
    with transaction.atomic():
        lecture.delete()
    datasets_register_for_lectures(course_ids=[course_id])
