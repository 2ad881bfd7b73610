"""The shared vocabulary (envmon.domain) is consistent with itself: each tuple matches its type."""

from __future__ import annotations

from typing import get_args

import pytest

from envmon import domain


@pytest.mark.parametrize(
    ("values", "literal"),
    [
        pytest.param(domain.BASES, domain.Basis, id="bases"),
        pytest.param(domain.LIMIT_BASES, domain.LimitBasis, id="limit-bases"),
        pytest.param(domain.CATEGORIES, domain.Category, id="categories"),
        pytest.param(domain.SEVERITIES, domain.Severity, id="severities"),
        pytest.param(domain.ALERT_STATES, domain.AlertState, id="alert-states"),
    ],
)
def test_each_value_tuple_lists_its_type(values: tuple[str, ...], literal: object) -> None:
    assert values == get_args(literal)


@pytest.mark.parametrize(
    ("subset", "whole"),
    [
        pytest.param(domain.LIMIT_BASES, domain.BASES, id="limit-bases-are-bases"),
        pytest.param(domain.LATCHING_SEVERITIES, domain.SEVERITIES, id="latching-are-severities"),
        pytest.param(set(domain.SEVERITY_RANK), domain.SEVERITIES, id="ranked-are-severities"),
        pytest.param(domain.ACTIVE_STATES, domain.ALERT_STATES, id="active-are-states"),
        pytest.param(domain.UNACKNOWLEDGED_STATES, domain.ACTIVE_STATES, id="unacknowledged-are-active"),
        pytest.param(domain.ENDED_STATES, domain.ALERT_STATES, id="ended-are-states"),
    ],
)
def test_subsets_name_known_words(subset: frozenset[str] | tuple[str, ...], whole: tuple[str, ...]) -> None:
    assert set(subset) <= set(whole)


def test_every_severity_has_a_rank_and_states_split_into_active_and_ended() -> None:
    assert set(domain.SEVERITY_RANK) == set(domain.SEVERITIES)
    assert set(domain.ALERT_STATES) == domain.ACTIVE_STATES | domain.ENDED_STATES
    assert not domain.ACTIVE_STATES & domain.ENDED_STATES
