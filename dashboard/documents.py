"""Documents of a plant's file (permit scans, approvals, photos): checked by content, stored, served inertly.

An upload is accepted only when its first bytes are a PDF, PNG or JPEG signature and its name's
extension agrees with them; it is stored with its SHA-256 and size, and served back only as that
type, as an attachment, with nosniff and a sandbox policy, so nothing uploaded can run in a browser.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import psycopg
from fastapi.responses import Response

from dashboard.admin_store import AdminError
from dashboard.audit import write_audit

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024  # a scanned permit of some 20 pages; the table refuses more too
MAX_NAME_CHARS = 128
CATEGORIES = ("permit", "eia", "acceptance", "enforcement", "other")
# Signature -> (content type, the extensions a name may carry).
SIGNATURES: tuple[tuple[bytes, str, tuple[str, ...]], ...] = (
    (b"%PDF-", "application/pdf", (".pdf",)),
    (b"\x89PNG\r\n\x1a\n", "image/png", (".png",)),
    (b"\xff\xd8\xff", "image/jpeg", (".jpg", ".jpeg")),
)
DOCUMENT_CSP = "default-src 'none'; sandbox"


@dataclass(frozen=True, slots=True)
class CheckedDocument:
    """An upload that passed the checks."""

    filename: str
    content_type: str
    size_bytes: int
    sha256: str


def clean_filename(name: str) -> str:
    """The last path part of a name, printable, at most MAX_NAME_CHARS; AdminError when nothing is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    shown = "".join(c for c in unicodedata.normalize("NFC", base) if c.isprintable() and c not in '"')
    shown = shown.strip().lstrip(".")
    if not shown:
        raise AdminError("admin_error_document_name")
    return shown[-MAX_NAME_CHARS:]


def check_document(name: str, content: bytes) -> CheckedDocument:
    """Accept a PDF, PNG or JPEG whose content and name agree and that fits the size limit."""
    if not content:
        raise AdminError("admin_error_document_empty")
    if len(content) > MAX_DOCUMENT_BYTES:
        raise AdminError("admin_error_document_large", mib=MAX_DOCUMENT_BYTES // (1024 * 1024))
    filename = clean_filename(name)
    for magic, content_type, extensions in SIGNATURES:
        if content.startswith(magic):
            if not filename.lower().endswith(extensions):
                raise AdminError("admin_error_document_type", content_type=content_type)
            return CheckedDocument(filename, content_type, len(content), hashlib.sha256(content).hexdigest())
    raise AdminError("admin_error_document_kind")


def store_document(conn: psycopg.Connection, *, site_id: int, category: str, name: str, content: bytes,
                   actor: str, now: datetime) -> int:
    """Store a checked upload (the same bytes twice keep one row) and audit it; returns its id."""
    if category not in CATEGORIES:
        raise AdminError("admin_error_document_category", categories=", ".join(CATEGORIES))
    doc = check_document(name, content)
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO site_documents (site_id, category, filename, content_type, size_bytes, sha256, content,"
            " uploaded_by, uploaded_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (site_id, sha256) DO UPDATE SET filename = site_documents.filename RETURNING id",
            (site_id, category, doc.filename, doc.content_type, doc.size_bytes, doc.sha256, content, actor, now),
        ).fetchone()
        assert row is not None
        write_audit(conn, actor=actor, action="upload", entity="site_document", key=str(row[0]),
                    detail={"site_id": site_id, "filename": doc.filename, "sha256": doc.sha256,
                            "size_bytes": doc.size_bytes}, now=now)
    return int(row[0])


def document_response(filename: str, content_type: str, content: bytes) -> Response:
    """The stored bytes as a download: its checked type only, attachment, nosniff, sandboxed."""
    if content_type not in {sig[1] for sig in SIGNATURES}:
        content_type = "application/octet-stream"  # never anything a browser would run
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    headers = {
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": DOCUMENT_CSP,
        "Cache-Control": "no-store",
    }
    return Response(content, media_type=content_type, headers=headers)
