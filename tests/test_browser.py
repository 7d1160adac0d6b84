"""A real-browser test: JupyterLab on localhost driven by Playwright + Debian's chromium.

It opens notebooks/00_overview.ipynb, runs all cells, changes the segment
dropdown, and checks that the numbers and the chart changed and that no cell
shows an error. Skips (with the reason) when chromium is not installed;
`.ci/run` installs it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("jlab")
    port, token = _free_port(), secrets.token_hex(16)
    settings = home / "settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    # no news fetch, no update check: nothing may reach the internet
    (
        settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    ).write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # render every cell (JupyterLab 4 virtualises cells outside the viewport by default)
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"})
    )
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--ServerApp.token={token}", "--ServerApp.password=", f"--ServerApp.root_dir={REPO}",
        "--allow-root", "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
    ]  # fmt: skip
    log = open(home / "lab.log", "wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start: " + (home / "lab.log").read_text()[-2000:])
    if proc.poll() is not None:
        pytest.fail("JupyterLab exited: " + (home / "lab.log").read_text()[-2000:])
    yield base, token
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _wait_idle(page, timeout_s: float) -> None:
    """Wait until no cell is queued or running ('[*]') and the kernel is idle."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        busy = page.evaluate(
            """() => {
                const app = window.jupyterapp;
                const w = app && app.shell.currentWidget;
                if (!w || !w.sessionContext || !w.sessionContext.session) return true;
                const status = w.sessionContext.session.kernel && w.sessionContext.session.kernel.status;
                const prompts = [...document.querySelectorAll('.jp-InputPrompt')].map(e => e.textContent);
                return status !== 'idle' || prompts.some(t => t.includes('*'));
            }"""
        )
        if not busy:
            return
        page.wait_for_timeout(300)
    raise AssertionError("notebook did not finish in time")


def _errors(page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
              .map(e => e.innerText).filter(t => /Traceback|Error/.test(t))"""
    )


def _snapshot(page) -> dict:
    return page.evaluate(
        """() => ({
            text: [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.innerText).join('\\n'),
            charts: document.querySelectorAll('.vega-embed').length,
            chart_html: [...document.querySelectorAll('.vega-embed')].map(e => e.innerHTML).join(''),
        })"""
    )


def test_overview_runs_in_jupyterlab_and_the_segment_dropdown_updates_it(lab):
    from playwright.sync_api import sync_playwright

    base, token = lab
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
            ],
        )  # fmt: skip
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/lab/tree/notebooks/00_overview.ipynb?token={token}")
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=90_000
        )
        page.wait_for_function(
            """() => { const w = window.jupyterapp.shell.currentWidget;
                       return w && w.sessionContext && w.sessionContext.session &&
                              w.sessionContext.session.kernel &&
                              w.sessionContext.session.kernel.status === 'idle'; }""",
            timeout=120_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_timeout(1000)
        _wait_idle(page, 240)
        page.wait_for_selector(".widget-dropdown select", timeout=60_000)
        page.wait_for_selector(".vega-embed svg, .vega-embed canvas", timeout=60_000)
        assert _errors(page) == []
        before = _snapshot(page)
        assert before["charts"] >= 1 and "$" in before["text"]

        labels = page.evaluate(
            """() => [...document.querySelectorAll('.widget-dropdown select')].map(
                   s => (s.closest('.widget-dropdown').querySelector('label') || {}).textContent || '')"""
        )
        assert any(t.strip().lower() == "segment" for t in labels), (
            f"no Segment dropdown in {labels}"
        )
        idx = next(i for i, t in enumerate(labels) if t.strip().lower() == "segment")
        seg = page.locator(".widget-dropdown select").nth(idx)
        options = seg.locator("option").all_inner_texts()
        pick = next(i for i, o in enumerate(options) if o.strip().lower() != "all")
        target = options[pick].replace("\xa0", " ").strip()
        seg.select_option(index=pick)
        page.wait_for_timeout(1500)
        _wait_idle(page, 60)
        page.wait_for_selector(".vega-embed svg, .vega-embed canvas", timeout=60_000)
        after = _snapshot(page)
        assert _errors(page) == []
        assert after["text"] != before["text"], "numbers did not change after picking a segment"
        assert after["chart_html"] != before["chart_html"], "chart did not change"
        assert target.split("=")[-1] in after["text"].replace("\xa0", " ")
        seg.scroll_into_view_if_needed()
        (REPO / "outputs").mkdir(exist_ok=True)
        page.screenshot(path=str(REPO / "outputs" / "browser_overview.png"), full_page=False)
        browser.close()
