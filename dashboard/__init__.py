"""dashboard component (issue 7): the FastAPI web app, its JSON API and live events; see docs/dashboard.md."""
