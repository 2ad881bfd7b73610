"""Strict TOML reading: syntax, unreadable files and validation errors become problems named by key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from envmon.errors import FileProblemsError
from envmon.strict_toml import key_path, read_text_file, read_toml, validation_problems


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str

    @field_validator("code")
    @classmethod
    def _short(cls, value: str) -> str:
        if len(value) > 3:
            raise ValueError("too long")
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[_Item] = []


@pytest.mark.parametrize(
    ("loc", "text"),
    [
        pytest.param((), "(file)", id="whole-file"),
        pytest.param(("rules", "hold_seconds"), "rules.hold_seconds", id="dotted-keys"),
        pytest.param(("incidents", 2, "kind"), "incidents[2].kind", id="list-position-in-brackets"),
    ],
)
def test_key_path_names_the_key(loc: tuple[Any, ...], text: str) -> None:
    assert key_path(loc, {}) == text


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        pytest.param({"extra": 1}, ["extra: unknown key"], id="unknown-key"),
        pytest.param({"items": [{"code": "ab"}, {}]}, ["items[1].code: Field required"], id="missing-in-list"),
        pytest.param({"items": [{"code": "abcd"}]}, ["items[0].code: too long"], id="validator-prefix-dropped"),
    ],
)
def test_validation_problems_name_each_key(data: dict[str, Any], problems: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        _File.model_validate(data)
    assert validation_problems(caught.value, data) == problems


def test_validation_problems_use_the_callers_location() -> None:
    with pytest.raises(ValidationError) as caught:
        _File.model_validate({"extra": 1})
    assert validation_problems(caught.value, {}, lambda loc, data: "here") == ["here: unknown key"]


def test_not_toml_names_the_line() -> None:
    with pytest.raises(FileProblemsError, match=r"not valid TOML: .*line 2") as caught:
        read_toml("a = 1\nb = \n", "f.toml", FileProblemsError)
    assert caught.value.source == "f.toml"


def test_unreadable_file_says_why(tmp_path: Path) -> None:
    with pytest.raises(FileProblemsError, match="cannot read: No such file") as caught:
        read_text_file(tmp_path / "missing.toml", FileProblemsError)
    assert caught.value.source == str(tmp_path / "missing.toml")
