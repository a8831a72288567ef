"""report.plot: panel layout (at most PANELS_PER_ROW a row), one-point series with an interval, empty series."""

from __future__ import annotations

import matplotlib.image as mpimg
import pytest

from fcjax.stats import Verdict
from proofs_check.report import PANELS_PER_ROW, plot


def _verdict(series: dict) -> Verdict:
    return Verdict(claim="x.y", paper="p", statement="s", source="src", passed=True, statistic=0.0, expected="0",
                   ci_low=0.0, ci_high=0.0, level=0.95, n_trials=1, params={}, seed=0, series=series)


def _panel(title: str, points: int = 3) -> dict:
    return {"title": title, "lines": [{"label": "a", "x": list(range(points)), "y": [1.0] * points,
                                       "low": [0.5] * points, "high": [1.5] * points}]}


@pytest.mark.parametrize(("panels", "grid"), [(1, (1, 1)), (PANELS_PER_ROW, (1, PANELS_PER_ROW)),
                                              (PANELS_PER_ROW + 3, (2, PANELS_PER_ROW))])
def test_panels_wrap_onto_rows(tmp_path, panels, grid):
    path = tmp_path / "f.png"
    assert plot(_verdict({"panels": [_panel(str(i)) for i in range(panels)]}), path)
    height, width = mpimg.imread(path).shape[:2]
    # figsize (6.4 · columns, 4.6 · rows) inches at 110 dpi
    assert (height, width) == (round(4.6 * 110 * grid[0]), round(6.4 * 110 * grid[1]))


@pytest.mark.parametrize(("points", "bars"), [(1, 1), (3, 0)])
def test_one_point_series_with_an_interval_gets_an_error_bar(tmp_path, monkeypatch, points, bars):
    # a band needs two x values: one estimate with its CI is drawn as an error bar (a band of one point vanished)
    from matplotlib.axes import Axes

    calls = []
    real = Axes.errorbar
    monkeypatch.setattr(Axes, "errorbar", lambda self, *a, **k: calls.append(a) or real(self, *a, **k))
    assert plot(_verdict({"panels": [_panel("one", points=points)]}), tmp_path / "f.png")
    assert len(calls) == bars


def test_nothing_to_draw_returns_false(tmp_path):
    assert not plot(_verdict({}), tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()
