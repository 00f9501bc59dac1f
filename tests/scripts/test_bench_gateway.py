"""The gateway benchmark's report and settings (scripts/bench_gateway.py), without starting anything."""

from __future__ import annotations

import sys

import pytest

from scripts import bench_gateway
from scripts.bench_gateway import Outcome, figures


def test_the_report_line_shows_the_percentiles_in_ms() -> None:
    outcome = Outcome(latencies=[0.5, 0.1, 0.4, 0.2, 0.3], errors=1, wall=2.0)
    result = figures("gateway (2 workers)", outcome)
    assert (result.p50, result.p95, result.p99) == pytest.approx((0.3, 0.48, 0.496))
    assert result.line() == ("gateway (2 workers)          p50=    300 ms  p95=    480 ms  p99=    496 ms"
                             "     2.5 msg/s  (n=5, errors=1)")


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("BENCH_USERS", "many", "BENCH_USERS must be a whole number, got 'many'"),
    ("BENCH_MESSAGES", "0", "BENCH_MESSAGES must be at least 1, got '0'"),
])
def test_a_bad_load_setting_stops_before_anything_starts(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str,
        problem: str) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["bench_gateway"])
    with pytest.raises(SystemExit) as exited:
        bench_gateway.main()
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err
