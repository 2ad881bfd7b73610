"""The upstream forwarding page (/forwarding): targets, routes, backlog, lag and the forward service's state."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dashboard.deps import Conn, SessionDep, require
from dashboard.forwarding import load_targets
from dashboard.render import page

router = APIRouter(include_in_schema=False)


@router.get("/forwarding")
def forwarding_page(request: Request, conn: Conn, session: SessionDep) -> Response:
    """Every target the user may see (read-only: targets are configured by `envmon forward load`)."""
    user = require(session, "forward.read")
    return page(request, "forwarding.html", session, targets=load_targets(conn, user))
