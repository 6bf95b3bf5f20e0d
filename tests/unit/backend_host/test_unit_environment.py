"""The unit's Environment= lines read back exactly as written, whatever the value holds
(backend_host/unit_environment.py): the by-hand mount gets what systemd would give the unit."""

from __future__ import annotations

import pytest

from backend_host.unit_environment import UnitError, environment_line, unit_environment
from tests.unit.backend_host.test_render import HOST_SETTINGS, unit


@pytest.mark.parametrize(
    "value", ["", "plain", 'a "quoted" word', "back\\slash\\", "%n %% %", "=x=y", 'ü \\" %\\%']
)
def test_every_value_reads_back_as_it_was_written(value: str) -> None:
    assert unit_environment(environment_line("NAME", value) + "\n") == {"NAME": value}


def test_the_rendered_units_environment_is_the_settings_it_was_given() -> None:
    assert unit_environment(unit()) == HOST_SETTINGS


@pytest.mark.parametrize(
    "line", ['Environment="no-equals-sign"', 'Environment="A=b" "C=d"', "Environment=A=b"]
)
def test_a_line_this_project_does_not_write_is_named(line: str) -> None:
    with pytest.raises(UnitError, match="line 2"):
        unit_environment(f"[Service]\n{line}\n")
