"""Ingesting SIGHT whole: 288 transcripts and 15,784 comments through the upload path (parsing, passage
embeddings, classification, linking, database writes), on a throwaway test database. Prints JSON with
rows per second for each stage and the total against the 5-minute aim.

    .venv/bin/python bench/ingest.py --data ../shared/data/sight [--lectures N]

--lectures N takes the first N transcripts (by name) and only the comments on them, for a quick look.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
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


def run(data: Path, lectures: int | None) -> dict:
    from datasets_admin.models import Comment, Lecture, Passage
    from datasets_admin.services import classifier_active, data_import
    from models_runtime import api as models_api

    files, transcript_count, _ = _files(data, lectures)
    classifier_active()
    models_api.embed(["warm up the embedding model"])  # loading the model is start-up, not ingest
    started = time.perf_counter()
    report = data_import(files=files)
    total = time.perf_counter() - started
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
    options = parser.parse_args()
    connection = django_setup_with_test_database()
    try:
        print(json.dumps(run(options.data, options.lectures), indent=2))
    finally:
        django_teardown(connection)


if __name__ == "__main__":
    main()
