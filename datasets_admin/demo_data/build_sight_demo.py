"""Copy the SIGHT demo slice into datasets_admin/demo_data/sight/ (a developer tool, never run by the app).

    python datasets_admin/demo_data/build_sight_demo.py --shared ../shared/data

Three lectures of MIT 18.065 (transcript and metadata, unchanged) and their comments (the rows of
sight_dataset.csv, unchanged, in its space-delimited layout), and the annotated sample, whole.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

DEMO_VIDEOS = ("Z_5uLqcwDgM", "z0ykhV15wLw", "d32WV1rKoVk")
HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", type=Path, required=True)
    sight = parser.parse_args().shared / "sight"
    target = HERE / "sight"
    (target / "transcripts").mkdir(parents=True, exist_ok=True)
    (target / "metadata").mkdir(parents=True, exist_ok=True)
    for video in DEMO_VIDEOS:
        shutil.copyfile(sight / "transcripts" / f"{video}.txt", target / "transcripts" / f"{video}.txt")
        shutil.copyfile(sight / "metadata" / f"{video}.json", target / "metadata" / f"{video}.json")
    with (sight / "sight_dataset.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=" ", quotechar='"'))
    with (target / "comments.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=" ", quotechar='"', quoting=csv.QUOTE_MINIMAL)
        writer.writerow(rows[0])
        writer.writerows(row for row in rows[1:] if row[1] in DEMO_VIDEOS)
    shutil.copyfile(sight / "sample_annotated.csv", HERE / "sight_annotated.csv")
    shutil.copyfile(sight / "LICENSE", HERE / "LICENSE-SIGHT.txt")


if __name__ == "__main__":
    main()
