"""The demo's SIGHT content: three MIT 18.065 lectures with their students' comments (MIT license,
attributed in demo_data/ATTRIBUTION.md), imported through the same path as an admin's upload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from datasets_admin.parsers import UploadedFile
from datasets_admin.selectors import lecture_count_for_videos
from datasets_admin.services import ImportReport, data_import

SIGHT_DEMO_DIR = Path(__file__).resolve().parent / "demo_data" / "sight"


def sight_demo_files() -> list[UploadedFile]:
    paths = [
        *sorted((SIGHT_DEMO_DIR / "metadata").glob("*.json")),
        *sorted((SIGHT_DEMO_DIR / "transcripts").glob("*.txt")),
        SIGHT_DEMO_DIR / "comments.csv",
    ]
    return [UploadedFile(f"sight/{path.parent.name}/{path.name}", path.read_bytes()) for path in paths]


def sight_demo_seed(*, admin: Any = None) -> ImportReport | None:
    """Idempotent and fast (seconds): the vectors of the demo's passages and comments are shipped
    (embeddings.npz, MiniLM's own output), so no model needs to run while seeding."""
    video_ids = [path.stem for path in (SIGHT_DEMO_DIR / "transcripts").glob("*.txt")]
    if lecture_count_for_videos(video_ids=video_ids) == len(video_ids):
        return None
    with np.load(SIGHT_DEMO_DIR / "embeddings.npz") as shipped:
        cache = {str(k): v.astype(np.float32) for k, v in zip(shipped["keys"], shipped["vectors"], strict=True)}
    return data_import(files=sight_demo_files(), user=admin, embedding_cache=cache)
