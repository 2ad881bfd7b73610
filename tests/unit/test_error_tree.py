"""One error tree: every error envmon raises on purpose descends from its package's base under EnvmonError."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from alerts.answer_flow import AnswerRefused
from alerts.batch import ReplayInputError
from alerts.errors import AlertsError, EngineStateError
from alerts.lifecycle import LifecycleError, alert_code
from alerts.notify.sms import SendError
from alerts.reports.compliance import period_of
from alerts.reports.errors import LinkExpired, ReportError
from alerts.rules.policy import PolicyError
from alerts.service import AlertServiceError
from dashboard.admin_store import AdminError
from dashboard.alert_queue import ActionForbidden
from dashboard.deps import BadRequest, Conflict, Forbidden, NotFound, NotSignedIn
from dashboard.errors import DashboardError, Refused
from dashboard.review import ReviewRefused
from dashboard.users import UserError
from device_sim.errors import ScenarioError, SimError
from envmon.batchwire import BatchWireError
from envmon.errors import ConfigError, EnvmonError
from envmon.protocols.errors import ProtocolError, RejectedMessage
from envmon.protocols.hj212.errors import HJ212Error
from ingest.errors import IngestError, WriteError
from ingest.service import IngestFailed


@pytest.mark.parametrize(
    ("error", "base"),
    [
        pytest.param(IngestError, EnvmonError, id="ingest-base"),
        pytest.param(ProtocolError, EnvmonError, id="protocols-base"),
        pytest.param(BatchWireError, EnvmonError, id="batch-wire"),
        pytest.param(RejectedMessage, ProtocolError, id="rejected-message"),
        pytest.param(WriteError, IngestError, id="write-error"),
        pytest.param(IngestFailed, IngestError, id="ingest-failed"),
        pytest.param(HJ212Error, ProtocolError, id="hj212"),
        pytest.param(AlertsError, EnvmonError, id="alerts-base"),
        pytest.param(AlertServiceError, AlertsError, id="alert-service"),
        pytest.param(ReplayInputError, AlertsError, id="replay-input"),
        pytest.param(EngineStateError, AlertsError, id="engine-state"),
        pytest.param(LifecycleError, AlertsError, id="lifecycle"),
        pytest.param(AnswerRefused, AlertsError, id="answer-refused"),
        pytest.param(SendError, AlertsError, id="send"),
        pytest.param(ReportError, AlertsError, id="report"),
        pytest.param(LinkExpired, ReportError, id="link-expired"),
        pytest.param(PolicyError, AlertsError, id="policy-is-alerts"),
        pytest.param(PolicyError, ConfigError, id="policy-is-config"),
        pytest.param(DashboardError, EnvmonError, id="dashboard-base"),
        pytest.param(NotSignedIn, DashboardError, id="not-signed-in"),
        pytest.param(Forbidden, DashboardError, id="forbidden"),
        pytest.param(NotFound, DashboardError, id="not-found"),
        pytest.param(Conflict, DashboardError, id="conflict"),
        pytest.param(BadRequest, DashboardError, id="bad-request"),
        pytest.param(ActionForbidden, DashboardError, id="action-forbidden"),
        pytest.param(UserError, DashboardError, id="user"),
        pytest.param(AdminError, DashboardError, id="admin"),
        pytest.param(ReviewRefused, Refused, id="review-refused"),
        pytest.param(SimError, EnvmonError, id="sim-base"),
        pytest.param(ScenarioError, SimError, id="scenario"),
    ],
)
def test_error_descends_from_its_package_base(error: type[Exception], base: type[Exception]) -> None:
    assert issubclass(error, base)


def test_own_errors_are_not_value_errors() -> None:
    """Callers catch the package base; a ValueError catch must not swallow envmon's own refusals."""
    for error in (LifecycleError, SendError, UserError, AdminError, IngestFailed, BatchWireError):
        assert not issubclass(error, ValueError | RuntimeError), error


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(lambda: alert_code(-1), LifecycleError, id="negative-alert-id"),
        pytest.param(lambda: period_of("weekly", date(2026, 1, 1)), ReportError, id="unknown-report-period"),
    ],
)
def test_refusals_raise_the_package_error(call: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        call()
