"""Ingesting SIGHT whole: 288 transcripts and 15,784 comments through the upload path (parsing, passage
embeddings, classification, linking, database writes), on a throwaway test database. Prints JSON with
rows per second for each stage and the total against the 5-minute aim.

    .venv/bin/python bench/ingest.py --data ../shared/data/sight [--lectures N]

--lectures N takes the first N transcripts (by name) and only the comments on them, for a quick look.
--embedding static-minilm-l6-v1 classifies with a classifier trained on the static table (passages are
always embedded with it) instead of the shipped MiniLM one.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._django import django_setup_with_test_database, django_teardown

AIM_SECONDS = 300


def _files(data: Path, lectures: int | None) -> tuple[list, int, int]:
    from datasets_admin.parsers import UploadedFile

    transcripts = sorted((data / "transcripts").glob("*.txt"))
    if lectures:
        transcripts = transcripts[:lectures]
    wanted = {path.stem for path in transcripts}
    files = [
        UploadedFile(f"metadata/{p.name}", p.read_bytes())
        for p in sorted((data / "metadata").glob("*.json"))
        if p.stem in wanted
    ]
    files += [UploadedFile(f"transcripts/{p.name}", p.read_bytes()) for p in transcripts]
    comments = (data / "sight_dataset.csv").read_bytes()
    if lectures:
        rows = list(csv.reader(io.StringIO(comments.decode("utf-8")), delimiter=" ", quotechar='"'))
        out = io.StringIO()
        writer = csv.writer(out, delimiter=" ", quotechar='"')
        writer.writerow(rows[0])
        writer.writerows(row for row in rows[1:] if row[1] in wanted)
        comments = out.getvalue().encode("utf-8")
    files.append(UploadedFile("sight_dataset.csv", comments))
    return files, len(transcripts), comments.count(b"\n")


def run(data: Path, lectures: int | None, embedding: str) -> dict:
    from datasets_admin.classifier import MINILM
    from datasets_admin.models import Comment, Lecture, Passage
    from datasets_admin.services import (
        ANNOTATED_COMMENTS,
        annotated_comments_read,
        classifier_active,
        classifier_install,
        classifier_train,
        data_import,
    )
    from datasets_admin.static_embedding import static_embed
    from models_runtime import api as models_api

    files, transcript_count, _ = _files(data, lectures)
    version = classifier_active()
    if embedding != MINILM:  # the classifier on the static table, trained here (seconds), before the clock starts
        artifact = classifier_train(
            annotated=annotated_comments_read(ANNOTATED_COMMENTS), use_corrections=False, embedding=embedding
        )
        artifact.pop("_training_rows", None)
        artifact.pop("_heldout_rows", None)
        version = classifier_install(artifact=artifact, job_id="bench", reclassify=False)  # not "shipped"
    models_api.embed(["warm up the embedding model"])  # loading the models is start-up, not ingest
    static_embed(["warm up the static table"])
    load_before = os.getloadavg()
    started = time.perf_counter()
    report = data_import(files=files)
    total = time.perf_counter() - started
    load_after = os.getloadavg()
    stages = {}
    for stage in ("parsing", "passage_embedding", "classification", "linking", "database_writes"):
        seconds = report.timings.get(stage, 0.0)
        rows = report.counts.get(stage, 0)
        stages[stage] = {
            "rows": rows,
            "seconds": round(seconds, 2),
            "rows_per_second": round(rows / seconds, 1) if seconds else None,
        }
    return {
        "classifier": version.version,
        "comment_embedding": version.parameters.get("embedding", MINILM),
        "held_out_macro_kappa": version.metrics.get("macro_kappa"),
        "load_average_before": [round(v, 1) for v in load_before],
        "load_average_after": [round(v, 1) for v in load_after],
        "cpu_count": os.cpu_count(),
        "transcripts": transcript_count,
        "lectures_stored": Lecture.objects.count(),
        "passages": Passage.objects.count(),
        "comments_stored": Comment.objects.count(),
        "comments_linked": Comment.objects.filter(passage__isnull=False).count(),
        "refused": len(report.refused),
        "refused_examples": [r.as_dict() for r in report.refused[:5]],
        "stages": stages,
        "total_seconds": round(total, 1),
        "aim_seconds": AIM_SECONDS,
        "total_over_aim": round(total / AIM_SECONDS, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data", type=Path, required=True, help="SIGHT's folder: transcripts/, metadata/, sight_dataset.csv"
    )
    parser.add_argument("--lectures", type=int)
    parser.add_argument(
        "--embedding",
        default="all-MiniLM-L6-v2",
        choices=("all-MiniLM-L6-v2", "static-minilm-l6-v1"),
        help="The comment classifier's vectors: the shipped MiniLM classifier, or one trained on the static table.",
    )
    options = parser.parse_args()
    connection = django_setup_with_test_database()
    try:
        print(json.dumps(run(options.data, options.lectures, options.embedding), indent=2))
    finally:
        django_teardown(connection)


if __name__ == "__main__":
    main()
