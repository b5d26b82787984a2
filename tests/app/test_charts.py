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
    source, name = charts.bundle()[:2]
    assert charts._copied(static, source, name)
    assert (static / name).read_bytes() == source.read_bytes()
    assert [p.name for p in static.iterdir()] == [name]  # no half-written file left beside it
    (static / name).write_text("truncated")  # a copy of another size is replaced
    assert charts._copied.__wrapped__(static, source, name)
    assert (static / name).stat().st_size == source.stat().st_size


def test_a_folder_that_cannot_be_written_is_no_copy(tmp_path) -> None:
    (tmp_path / "file").write_text("not a folder")
    assert not charts._copied(tmp_path / "file" / "static", charts.PLOTLY_JS, "plotly.min.js")


def test_the_cartesian_bundle_is_served_only_at_the_packages_plotly_js_version(tmp_path, monkeypatch) -> None:
    version = charts.js_version(charts.PLOTLY_JS)
    assert version is not None and charts.js_version(charts.CARTESIAN_JS) == version  # as shipped
    assert charts.bundle() == (charts.CARTESIAN_JS, f"plotly-cartesian-{version}.min.js", True)
    older = tmp_path / "older.min.js"
    older.write_text("/**\n* plotly.js (cartesian - minified) v1.0.0\n*/\n")
    monkeypatch.setattr(charts, "CARTESIAN_JS", older)
    charts.bundle.cache_clear()
    try:
        # the package's full bundle instead
        assert charts.bundle() == (charts.PLOTLY_JS, f"plotly-full-{version}.min.js", False)
        assert charts.drawable(go.Figure(go.Surface(z=[[1, 2], [3, 4]])))
    finally:
        charts.bundle.cache_clear()


def test_a_figure_the_cartesian_bundle_cannot_draw_is_plotlys_own(monkeypatch) -> None:
    monkeypatch.setattr(charts, "_served", lambda: True)
    assert charts.drawable(go.Figure([go.Heatmap(z=[[1]]), go.Scatter(y=[1]), go.Bar(y=[1])]))
    assert not charts.drawable(go.Figure(go.Surface(z=[[1, 2], [3, 4]])))

    def surface() -> None:
        import plotly.graph_objects as go

        from pages.charts import chart

        chart(go.Figure(go.Surface(z=[[1, 2], [3, 4]])), key="surface", moving=True)

    at = AppTest.from_function(surface).run()
    assert not at.exception and not at.get("bidi_component") and len(at.get("plotly_chart")) == 1


def test_a_served_chart_hands_the_browser_the_figure_and_the_script(monkeypatch) -> None:
    monkeypatch.setattr(charts, "_served", lambda: True)
    at = AppTest.from_function(draw_one).run()
    assert not at.exception and not at.get("plotly_chart")
    (chart,) = at.get("bidi_component")
    payload = json.loads(chart.proto.json)
    figure = go.Figure(go.Scatter(y=[1, 2, 3])).update_layout(height=321)
    assert json.loads(payload["figure"]) == json.loads(pio.to_json(figure, validate=False))
    assert payload["src"] == f"/app/static/{charts.bundle().name}" and payload["config"] == {"staticPlot": True}
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


def test_a_still_chart_drawn_in_place_keeps_hover_and_zoom(monkeypatch) -> None:
    monkeypatch.setattr(charts, "_served", lambda: True)

    def still_in_place() -> None:
        import plotly.graph_objects as go

        from pages.charts import chart

        chart(go.Figure(go.Scatter(y=[1])), key="still", config={"displayModeBar": False}, in_place=True)

    at = AppTest.from_function(still_in_place).run()
    (chart,) = at.get("bidi_component")
    assert not at.get("plotly_chart") and json.loads(chart.proto.json)["config"] == {"displayModeBar": False}


@pytest.mark.parametrize(("base", "prefix"), [("", "/app/static/"), ("lab/", "/lab/app/static/")])
def test_the_script_is_found_under_the_servers_base_path(base, prefix) -> None:
    before = config.get_option("server.baseUrlPath")
    config.set_option("server.baseUrlPath", base)
    try:
        assert charts.script_url() == prefix + charts.bundle().name
    finally:
        config.set_option("server.baseUrlPath", before)
