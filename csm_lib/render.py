"""Offline Vega-Lite output for notebooks and HTML reports (no CDN, no network).

Altair's default renderer loads Vega from a CDN and shows nothing offline. This
renderer instead:

1. shows the vega-embed bundle built by ``vl_convert.javascript_bundle()``
   once per kernel (``<script>`` inline; the built bundle is cached on disk
   under ``~/.cache/csm_lib/`` keyed by the vl-convert version, since building
   it takes about two seconds);
2. renders each chart as a small, deterministic ``text/html`` output: a
   ``<div>`` whose id is a hash of the spec, holding a static SVG of the chart
   (drawn by vl-convert, so nothing is ever blank even where scripts do not
   run: untrusted notebooks, GitHub, e-mail), and a short script that replaces
   the SVG with the interactive chart (tooltips) using the loaded bundle.

Use it with ``csm_lib.render.enable()`` (registers and enables the altair
renderer named ``csm`` and displays the bundle), or build HTML strings with
:func:`chart_html` and :func:`bundle_html` (used by the HTML report).

>>> import altair as alt, polars as pl
>>> c = alt.Chart(pl.DataFrame({"x": [1, 2], "y": [3, 4]})).mark_line().encode(x="x", y="y")
>>> html = chart_html(c, static=False)
>>> html.startswith('<div class="csm-chart" id="csm-')
True
>>> html == chart_html(c, static=False)  # deterministic
True
>>> "<script src" in html
False
"""

from __future__ import annotations

import hashlib
import html as _html
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import altair as alt

RENDERER = "csm"
EMBED_OPTIONS: dict[str, Any] = {
    "mode": "vega-lite",
    "renderer": "svg",
    # Only local actions: no "open in editor" link (it would need the network).
    "actions": {"export": True, "source": False, "compiled": False, "editor": False},
}
_state = {"bundle_shown": False, "static": True}


def cache_dir() -> Path:
    """Where the built bundle is cached (``$CSM_CACHE_DIR`` or ``~/.cache/csm_lib``)."""
    env = os.environ.get("CSM_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "csm_lib"


def _vlc_version() -> str:
    import vl_convert as vlc

    return getattr(vlc, "__version__", "unknown")


def javascript_bundle() -> str:
    """The vega-embed + vega-lite + vega bundle (cached on disk after the first build).

    It defines ``window.vegaEmbed``, ``window.vega`` and ``window.vegaLite``.
    """
    import vl_convert as vlc

    path = cache_dir() / f"vega-embed-bundle-vlc{_vlc_version()}.js"
    try:
        text = path.read_text(encoding="utf-8")
        if text:
            return text
    except OSError:
        pass
    text = vlc.javascript_bundle()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:  # a read-only home: build every time, still works
        pass
    return text


def bundle_html() -> str:
    """A ``<script>`` that loads the bundle once per page (a no-op when already loaded).

    The bundle is wrapped in a function so that its top-level declarations do
    not clash if the page shows it twice.
    """
    js = javascript_bundle().replace("</script", "<\\/script")
    return (
        '<div class="csm-vega-bundle" style="display:none"></div>'
        '<script type="text/javascript">\n'
        "if (!window.vegaEmbed) { (function () {\n"
        f"{js}\n"
        "})(); }\n"
        "</script>"
    )


def spec_of(chart: Any) -> dict:
    """The Vega-Lite dict of an altair chart (or a dict already)."""
    if isinstance(chart, dict):
        return chart
    return chart.to_dict()


def chart_id(spec: dict) -> str:
    """A stable element id derived from the spec (same chart -> same id)."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return "csm-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def static_svg(spec: dict) -> str:
    """The chart drawn as SVG by vl-convert (no browser, no network)."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(spec)


def chart_html(chart: Any, static: bool | None = None) -> str:
    """A small HTML fragment for one chart: a div (with a static SVG) and a script.

    The script waits for ``window.vegaEmbed`` (shown once by :func:`bundle_html`)
    and swaps the static SVG for the interactive chart. No external URL is loaded.
    """
    spec = spec_of(chart)
    static = _state["static"] if static is None else static
    cid = chart_id(spec)
    inner = static_svg(spec) if static else ""
    spec_js = json.dumps(spec, sort_keys=True, default=str).replace("</", "<\\/")
    opts_js = json.dumps(EMBED_OPTIONS, sort_keys=True)
    return (
        f'<div class="csm-chart" id="{cid}">{inner}</div>\n'
        '<script type="text/javascript">\n'
        "(function () {\n"
        "  var me = document.currentScript;\n"
        f'  var el = (me && me.previousElementSibling) || document.getElementById("{cid}");\n'
        f"  var spec = {spec_js};\n"
        f"  var opts = {opts_js};\n"
        "  var tries = 0;\n"
        "  function draw() {\n"
        "    if (window.vegaEmbed) {\n"
        "      var keep = el.innerHTML;\n"
        "      el.innerHTML = '';\n"
        "      window.vegaEmbed(el, spec, opts).catch(function (err) {\n"
        "        el.innerHTML = keep + '<pre class=\"csm-chart-error\">' + String(err) + '</pre>';\n"
        "      });\n"
        "    } else if (tries++ < 200) { setTimeout(draw, 50); }\n"
        "  }\n"
        "  draw();\n"
        "})();\n"
        "</script>"
    )


def mimebundle(chart: Any, with_bundle: bool = False) -> dict[str, str]:
    """The output of one chart: ``text/html`` (plus the bundle if asked) and ``text/plain``."""
    spec = spec_of(chart)
    html = chart_html(spec)
    if with_bundle:
        html = bundle_html() + "\n" + html
    title = spec.get("title")
    if isinstance(title, dict):
        title = title.get("text")
    label = f"<chart: {_html.escape(str(title))}>" if title else "<chart>"
    return {"text/html": html, "text/plain": label}


def _renderer(spec: dict, **metadata: Any) -> dict[str, str]:
    """The altair renderer ``csm``: the bundle is included with the first chart of a kernel."""
    first = not _state["bundle_shown"]
    _state["bundle_shown"] = True
    return mimebundle(spec, with_bundle=first)


class _Bundle:
    """Displayable object that shows the vega-embed bundle (hidden, ~0.9 MB)."""

    def _repr_html_(self) -> str:
        return bundle_html()

    def __repr__(self) -> str:
        return "<vega-embed bundle loaded>"


def enable(static: bool = True, show_bundle: bool = True) -> None:
    """Register and enable the ``csm`` altair renderer; display the bundle once.

    ``static`` adds an SVG drawn by vl-convert inside each chart's div (shown
    where scripts do not run). Call it in a notebook's setup cell.
    """
    if RENDERER not in alt.renderers.names():
        alt.renderers.register(RENDERER, _renderer)
    alt.renderers.enable(RENDERER)
    _state["static"] = static
    if show_bundle and not _state["bundle_shown"]:
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython is a dependency
            return
        if get_ipython() is not None:
            display(_Bundle())
            _state["bundle_shown"] = True


@contextmanager
def without_static():
    """Inside this block charts carry no static SVG (live widget updates: scripts run there)."""
    old = _state["static"]
    _state["static"] = False
    try:
        yield
    finally:
        _state["static"] = old


def reset() -> None:
    """Forget that the bundle was shown (for tests and a fresh page)."""
    _state["bundle_shown"] = False


# Register at import so that ``alt.renderers.enable("csm")`` works too.
if RENDERER not in alt.renderers.names():
    alt.renderers.register(RENDERER, _renderer)
