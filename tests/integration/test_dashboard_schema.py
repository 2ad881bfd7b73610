"""schemathesis against the dashboard's OpenAPI description: generated requests (valid and invalid), signed
in with the CSRF token, to every API operation of a running server; none may answer with a server error."""

from __future__ import annotations

from collections import Counter

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.app import create_app
from tests.browser.world import OTHER_DEVICE, Served, build_world, raise_alert, session_cookie

# The event stream never ends by design: it is tested in test_dashboard_api.py.
SKIPPED_PATHS = {"/api/events"}
EXAMPLES_PER_OPERATION = 40


def test_generated_requests_to_every_api_operation_cause_no_server_error(database_url: str) -> None:
    world = build_world(database_url)
    raise_alert(world)
    raise_alert(world, OTHER_DEVICE, "w20117", 0.5, samples=3)
    with Served(create_app(world.settings)) as served:
        cookie = session_cookie(served.url, "operator")
        csrf = httpx.get(f"{served.url}/api/me", cookies={"envmon_session": cookie}).json()["csrf_token"]
        headers = {"Cookie": f"envmon_session={cookie}", "X-CSRF-Token": csrf}
        schema = schemathesis.openapi.from_url(f"{served.url}/api/openapi.json")
        failures: list[str] = []
        tried: list[str] = []
        statuses: Counter[int] = Counter()
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path in SKIPPED_PATHS:
                continue
            tried.append(f"{operation.method.upper()} {operation.path}")

            # derandomize: the same requests every run, so the status counts below cannot flake.
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(), data=st.data())
            def run(case: schemathesis.Case, data: st.DataObject) -> None:
                response = case.call(headers=headers)
                statuses[response.status_code] += 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {case.query}: {response.status_code}")

            run()
        assert len(tried) >= 10, tried
        assert not failures, "\n".join(failures[:20])
        # Signed in throughout, and many generated requests were served, not only refused.
        assert statuses[401] == 0 and statuses[200] >= 100, statuses
