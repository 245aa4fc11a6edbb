"""Text from the teacher's materials: pasted, or an uploaded .txt, .md, .pdf or .docx file.

pypdf reads PDFs and python-docx reads Word files; a file that yields no text (a scan, an empty file,
a binary file renamed .txt) is refused with a message that says what to do instead.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePath

from pypdf import PdfReader
from pypdf.errors import PdfReadError

from core.errors import ApplicationError

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
ALLOWED_SUFFIXES = (".txt", ".md", ".pdf", ".docx")


def _fail(message: str) -> ApplicationError:
    return ApplicationError(message, extra={"fields": {"materials_file": message}})


def _plain_text(name: str, data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with its byte-order mark (Windows Notepad)
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise _fail(f"“{name}” is not readable UTF-16 text.") from error
    if b"\x00" in data[:8192]:
        raise _fail(f"“{name}” is not a text file (it holds binary data). Upload a .txt, .md, .pdf or .docx file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _fail(f"“{name}” is not UTF-8 text. Save it as UTF-8 and upload it again.") from error


def _pdf_text(name: str, data: bytes) -> str:
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise _fail(f"“{name}” is password-protected. Upload a copy without a password.")
        return "\n".join((page.extract_text() or "") for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as error:
        raise _fail(f"“{name}” could not be read as a PDF ({error}).") from error


def _docx_text(name: str, data: bytes) -> str:
    from docx import Document
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as error:
        raise _fail(f"“{name}” could not be read as a Word (.docx) file.") from error
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" ".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def materials_text_from_upload(*, name: str, data: bytes) -> str:
    """The text of an uploaded materials file. Raises ApplicationError (empty, binary, scanned, too big)."""
    name = PurePath(name or "materials").name
    suffix = PurePath(name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise _fail(f"“{name}” is not a .txt, .md, .pdf or .docx file.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise _fail(f"“{name}” is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB. Upload the relevant part.")
    if not data.strip():
        raise _fail(f"“{name}” is empty.")
    if suffix == ".pdf":
        text = _pdf_text(name, data)
        if not text.strip():
            raise _fail(
                f"“{name}” has no text layer (a scanned PDF?). Paste the text, or upload a PDF with selectable text."
            )
    elif suffix == ".docx":
        text = _docx_text(name, data)
    else:
        text = _plain_text(name, data)
    if not text.strip():
        raise _fail(f"“{name}” holds no text.")
    return text.strip()
