"""Figures on the page: redrawn every tick, one Plotly div updated in place (or Plotly's own chart where that
cannot load); still, Plotly's own chart."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio
import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

import pages.charts as charts


def draw_one() -> None:
    """A page that draws one moving figure."""
    import plotly.graph_objects as go

    from pages.charts import chart

    chart(go.Figure(go.Scatter(y=[1, 2, 3])).update_layout(height=321), key="moving", moving=True)


def test_plotly_js_is_copied_into_the_static_folder(tmp_path) -> None:
    static = tmp_path / "static"
    assert charts._copied(static)
    assert (static / "plotly.min.js").read_bytes() == charts.PLOTLY_JS.read_bytes()
    assert [p.name for p in static.iterdir()] == ["plotly.min.js"]  # no half-written file left beside it
    (static / "plotly.min.js").write_text("truncated")  # a copy of another size is replaced
    assert charts._copied.__wrapped__(static)
    assert (static / "plotly.min.js").stat().st_size == charts.PLOTLY_JS.stat().st_size


def test_a_folder_that_cannot_be_written_is_no_copy(tmp_path) -> None:
    (tmp_path / "file").write_text("not a folder")
    assert not charts._copied(tmp_path / "file" / "static")


def test_a_served_chart_hands_the_browser_the_figure_and_the_script(monkeypatch) -> None:
    monkeypatch.setattr(charts, "_served", lambda: True)
    at = AppTest.from_function(draw_one).run()
    assert not at.exception and not at.get("plotly_chart")
    (chart,) = at.get("bidi_component")
    payload = json.loads(chart.proto.json)
    figure = go.Figure(go.Scatter(y=[1, 2, 3])).update_layout(height=321)
    assert json.loads(payload["figure"]) == json.loads(pio.to_json(figure, validate=False))
    assert payload["src"] == "/app/static/plotly.min.js" and payload["config"] == {"staticPlot": True}
    assert "Plotly.react" in chart.proto.js_content  # updated in place, not mounted afresh


def test_without_static_serving_the_chart_is_plotlys_own(monkeypatch) -> None:
    monkeypatch.setattr(charts, "_served", lambda: False)
    at = AppTest.from_function(draw_one).run()
    assert not at.exception and not at.get("bidi_component")
    assert len(at.get("plotly_chart")) == 1


def test_a_still_chart_is_plotlys_own_with_its_config(monkeypatch) -> None:
    monkeypatch.setattr(charts, "_served", lambda: True)

    def still() -> None:
        import plotly.graph_objects as go

        from pages.charts import chart

        chart(go.Figure(go.Scatter(y=[1])), key="still", config={"displayModeBar": False})

    at = AppTest.from_function(still).run()
    (fig,) = at.get("plotly_chart")
    assert not at.get("bidi_component") and json.loads(fig.proto.config) == {"displayModeBar": False}


@pytest.mark.parametrize(("base", "url"), [("", "/app/static/plotly.min.js"),
                                           ("lab/", "/lab/app/static/plotly.min.js")])
def test_the_script_is_found_under_the_servers_base_path(base, url) -> None:
    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", base)
    try:
        assert charts.script_url() == url
    finally:
        config.set_option("server.baseUrlPath", before)
