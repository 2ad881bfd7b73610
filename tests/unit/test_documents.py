"""Document uploads are checked by content and name, and served inertly."""

from __future__ import annotations

import hashlib

import pytest

from dashboard.admin_store import AdminError
from dashboard.documents import MAX_DOCUMENT_BYTES, check_document, clean_filename, document_response

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        pytest.param("许可证.pdf", PDF, "application/pdf", id="pdf"),
        pytest.param("photo.PNG", PNG, "image/png", id="png-upper-case-extension"),
        pytest.param("scan.jpeg", JPEG, "image/jpeg", id="jpeg"),
        pytest.param("scan.jpg", JPEG, "image/jpeg", id="jpg"),
    ],
)
def test_accepted_documents(name: str, content: bytes, content_type: str) -> None:
    doc = check_document(name, content)
    assert (doc.content_type, doc.size_bytes, doc.sha256) == (
        content_type, len(content), hashlib.sha256(content).hexdigest())


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        pytest.param("x.pdf", b"<html><script>alert(1)</script>", "Only PDF, PNG and JPEG", id="html-named-pdf"),
        pytest.param("x.html", PDF, "its name says otherwise", id="pdf-named-html"),
        pytest.param("x.svg", b"<svg onload=alert(1)>", "Only PDF, PNG and JPEG", id="svg"),
        pytest.param("x.png", JPEG, "its name says otherwise", id="jpeg-named-png"),
        pytest.param("x.pdf", b"", "empty", id="empty"),
        pytest.param("x.pdf", PDF + b"\x00" * MAX_DOCUMENT_BYTES, "larger than", id="too-large"),
        pytest.param("/", PDF, "needs a file name", id="no-name"),
    ],
)
def test_refused_documents(name: str, content: bytes, problem: str) -> None:
    with pytest.raises(AdminError, match=problem):
        check_document(name, content)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        pytest.param("../../etc/passwd.pdf", "passwd.pdf", id="path-parts-dropped"),
        pytest.param("C:\\scans\\permit.pdf", "permit.pdf", id="windows-path"),
        pytest.param('a"\r\nX-Evil: 1.pdf', "aX-Evil: 1.pdf", id="quotes-and-newlines-dropped"),
        pytest.param(".hidden.pdf", "hidden.pdf", id="leading-dot"),
    ],
)
def test_clean_filename(given: str, kept: str) -> None:
    assert clean_filename(given) == kept


@pytest.mark.parametrize(
    ("stored_type", "served_type"),
    [
        pytest.param("application/pdf", "application/pdf", id="pdf"),
        pytest.param("text/html", "application/octet-stream", id="never-html"),
    ],
)
def test_documents_are_served_as_attachments_never_executable(stored_type: str, served_type: str) -> None:
    response = document_response("许可证.pdf", stored_type, PDF)
    assert response.media_type == served_type
    assert response.headers["content-disposition"].startswith('attachment; filename="___.pdf"; filename*=UTF-8')
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
