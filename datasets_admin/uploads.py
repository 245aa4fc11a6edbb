"""A size limit enforced while the upload streams in: an over-limit file is skipped, never stored,
and named with the reason; the other files of the same request still arrive."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from datasets_admin.parsers import MAX_UPLOAD_BYTES, Refusal


class SizeLimitUploadHandler(FileUploadHandler):
    def __init__(self, request: Any = None, *, limit: int = MAX_UPLOAD_BYTES) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.refused: list[Refusal] = []

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.refused.append(
                Refusal(
                    str(self.file_name),
                    f"The file is larger than the limit of {self.limit // 2**20} MB; nothing of it was stored.",
                )
            )
            raise SkipFile
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None
