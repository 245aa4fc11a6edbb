from __future__ import annotations

import io

import pytest
from docx import Document
from pypdf import PdfWriter

from coaching.reflection.materials import materials_text_from_upload
from core.errors import ApplicationError

TEXT = "Plants use chlorophyll to capture energy from sunlight."


def text_pdf(text: str) -> bytes:
    """A one-page PDF with a real text layer (Helvetica), written by hand."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def scanned_pdf() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_file(text: str) -> bytes:
    document = Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.txt", TEXT.encode()),
        ("notes.md", ("# Notes\n\n" + TEXT).encode("utf-8-sig")),
        ("lesson.pdf", text_pdf(TEXT)),
        ("lesson.docx", docx_file(TEXT)),
    ],
)
def test_each_supported_file_gives_its_text(name: str, data: bytes) -> None:
    assert TEXT in materials_text_from_upload(name=name, data=data)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.txt", b"  \n", "“empty.txt” is empty."),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "“binary.txt” is not a text file (it holds binary data). Upload a .txt, .md, .pdf or .docx file."),  # noqa: E501
        ("scan.pdf", scanned_pdf(), "“scan.pdf” has no text layer (a scanned PDF?). Paste the text, or upload a PDF with selectable text."),  # noqa: E501
        ("broken.pdf", b"%PDF-1.4 not really", "“broken.pdf” could not be read as a PDF"),
        ("broken.docx", b"PK not a zip", "“broken.docx” could not be read as a Word (.docx) file."),
        ("slides.pptx", b"data", "“slides.pptx” is not a .txt, .md, .pdf or .docx file."),
        ("latin.txt", "café".encode("latin-1"), "“latin.txt” is not UTF-8 text. Save it as UTF-8 and upload it again."),
    ],
)  # fmt: skip
def test_unusable_files_are_refused_with_a_clear_message(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ApplicationError) as raised:
        materials_text_from_upload(name=name, data=data)

    assert raised.value.message.startswith(message)
    assert raised.value.extra["fields"]["materials_file"] == raised.value.message
