"""The offline renderer: deterministic HTML, no network, the bundle once and cached."""

from __future__ import annotations

import re

import altair as alt
import polars as pl
import pytest

from csm_lib import render


def _chart(ys=(3, 4)):
    df = pl.DataFrame({"x": list(range(len(ys))), "y": list(ys)})
    return alt.Chart(df).mark_line().encode(x="x:Q", y="y:Q", tooltip=["x:Q", "y:Q"])


def test_chart_html_is_deterministic_and_keyed_by_the_spec():
    a, b = render.chart_html(_chart(), static=False), render.chart_html(_chart(), static=False)
    assert a == b
    cid = render.chart_id(_chart().to_dict())
    assert f'id="{cid}"' in a
    other = render.chart_html(_chart((5, 1)), static=False)
    assert render.chart_id(_chart((5, 1)).to_dict()) != cid
    assert f'id="{cid}"' not in other


def test_chart_html_loads_nothing_from_the_network():
    html = render.chart_html(_chart(), static=True)
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert "cdn" not in html.lower()
    # the only URL is the spec's $schema identifier; vega-embed's editor link is off
    assert '"editor": false' in html


def test_static_svg_fallback_is_inside_the_chart_div():
    html = render.chart_html(_chart(), static=True)
    div = html.split("</div>")[0]
    assert "<svg" in div
    assert "<svg" not in render.chart_html(_chart(), static=False)


def test_without_static_switches_the_fallback_off_temporarily():
    with render.without_static():
        assert "<svg" not in render.chart_html(_chart())
    assert "<svg" in render.chart_html(_chart(), static=True)


def test_bundle_is_built_once_and_cached_on_disk(tmp_path, monkeypatch):
    import vl_convert as vlc

    calls = []

    def fake_bundle():
        calls.append(1)
        return "const n=1;window.vegaEmbed=function(){};</script>"

    monkeypatch.setenv("CSM_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(vlc, "javascript_bundle", fake_bundle)
    first = render.javascript_bundle()
    second = render.javascript_bundle()
    assert first == second and len(calls) == 1
    assert list(tmp_path.glob("vega-embed-bundle-vlc*.js"))
    html = render.bundle_html()
    # guarded (loads once per page), wrapped in a function, closing tag escaped
    assert "if (!window.vegaEmbed)" in html
    assert "(function () {" in html
    assert "<\\/script>" in html and html.count("</script>") == 1
    assert not re.search(r"<script[^>]*\bsrc=", html)


def test_renderer_registered_and_ships_the_bundle_with_the_first_chart_only(monkeypatch):
    monkeypatch.setattr(render, "bundle_html", lambda: "<script>/*BUNDLE*/</script>")
    render.reset()
    with alt.renderers.enable("csm"):
        first = _chart()._repr_mimebundle_()
        second = _chart((1, 2))._repr_mimebundle_()
    first = first[0] if isinstance(first, tuple) else first
    second = second[0] if isinstance(second, tuple) else second
    assert "/*BUNDLE*/" in first["text/html"]
    assert "/*BUNDLE*/" not in second["text/html"]
    assert second["text/plain"].startswith("<chart")
    assert "csm" in alt.renderers.names()


@pytest.mark.slow
def test_real_bundle_defines_vega_embed():
    js = render.javascript_bundle()
    assert "window.vegaEmbed=" in js
    assert len(js) > 100_000
