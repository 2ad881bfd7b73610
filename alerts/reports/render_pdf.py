"""The report's HTML printed to PDF with WeasyPrint: A4, page numbers from CSS @page, CJK from the system font.

WeasyPrint because it lays out the same HTML and CSS the phone shows (one template, no second layout),
implements CSS paged media (page counters, running headers), draws inline SVG, embeds subsetted
fonts found by fontconfig (fonts-noto-cjk), and is a maintained BSD project with no browser to run.
Nothing is fetched: the page has no external resources, and the URL fetcher refuses any.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, NoReturn

from alerts.reports.errors import ReportError

# WeasyPrint logs every CSS property it ignores at WARNING; they are expected and not actionable.
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> NoReturn:
    raise ReportError(f"reports fetch nothing at run time (asked for {url})")


_THREAD = threading.local()


def _font_config() -> Any:
    """This thread's WeasyPrint FontConfiguration, made once.

    Why: WeasyPrint makes a new one (a fresh Pango font map, the CJK font's faces loaded again) for every document
    unless given one; reusing it saved 3-10 % of a report's CPU time here. One per thread: a Pango font map is not
    safe to share between threads, and the report worker and the dashboard render on threads of their own.
    """
    config = getattr(_THREAD, "font_config", None)
    if config is None:
        from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]

        config = _THREAD.font_config = FontConfiguration()
    return config


def render_pdf(html: str) -> bytes:
    """PDF bytes of a self-contained report page."""
    import weasyprint  # type: ignore[import-untyped]  # imported here: it loads Pango and fonts, which only PDF rendering needs

    document = weasyprint.HTML(string=html, url_fetcher=_refuse_fetch, media_type="print")
    pdf = document.write_pdf(font_config=_font_config())
    if not pdf:
        raise ReportError("WeasyPrint produced no PDF")
    return bytes(pdf)


WARM_UP_HTML = (
    '<html><body style="font-family: \'Noto Sans CJK SC\', sans-serif">'
    "<p>在线监测 Report 0.1 mg/L</p><p><b>超标倍数 1.30 倍</b></p></body></html>"
)


def warm_up() -> float:
    """Load WeasyPrint, Pango and the CJK fonts once (about 1-2 s); call at service start. Returns the seconds."""
    import time

    started = time.perf_counter()
    render_pdf(WARM_UP_HTML)
    return time.perf_counter() - started
