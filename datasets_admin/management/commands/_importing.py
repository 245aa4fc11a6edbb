from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from django.core.management.base import CommandError

from datasets_admin.parsers import MAX_UPLOAD_BYTES, UploadedFile


def files_read(paths: Sequence[Path], *, suffixes: tuple[str, ...]) -> list[UploadedFile]:
    """The files named, and those in the folders named (recursively, by suffix), in a stable order."""
    files = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            if not found:
                raise CommandError(f"{path} holds no {', '.join(suffixes)} file.")
        elif path.is_file():
            found = [path]
        else:
            raise CommandError(f"{path} does not exist.")
        for item in found:
            if item.stat().st_size > MAX_UPLOAD_BYTES:
                raise CommandError(f"{item} is larger than the limit of {MAX_UPLOAD_BYTES // 2**20} MB.")
            # Keep the folder in the name so that metadata/<id>.json and transcripts/<id>.txt pair up by stem.
            files.append(UploadedFile(str(item), item.read_bytes()))
    return files
