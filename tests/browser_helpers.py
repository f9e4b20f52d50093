"""A real headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium) that
walks a Snakemake HTML report the way a reader does: menu -> category -> subcategory -> figure.

:class:`ReportBrowser` collects what a reader would notice: JavaScript errors (uncaught exceptions
and ``console.error`` output, read from the browser log), images that do not decode, and docutils
system messages in the rendered text.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Flags that work in a container without a display, GPU, sandbox privileges or network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
)
WAIT_S = 30.0

# Every <img> of the page that the browser failed to decode (or has not decoded yet).
BROKEN_IMAGES_JS = """
return Array.from(document.images)
    .filter(img => !(img.complete && img.naturalWidth > 0))
    .map(img => (img.getAttribute('src') || '').slice(0, 80));
"""
NAV_LINKS_JS = """
return Array.from(document.querySelectorAll('nav a')).map(a => a.textContent.trim());
"""
# Per row of the results table: its label cells, and the MIME type of a download link (the view
# button of a result the report cannot display) or null.
RESULT_ROWS_JS = """
return Array.from(document.querySelectorAll('nav table tbody tr')).map(tr => {
    const cells = Array.from(tr.querySelectorAll('td')).map(td => td.textContent.trim());
    const href = tr.querySelector('td:last-child a').getAttribute('href') || '';
    return [cells.slice(0, -1), href.startsWith('data:') ? href.slice(5, href.indexOf(';')) : null];
});
"""
# After a click on a row's view button: once the app shows a result other than arguments[0] (the
# one shown before) and its <img> in the content pane has finished loading, the result's path,
# MIME type and decoded width (0: the browser could not decode it); null until then.
SHOWN_RESULT_JS = """
const path = app.state.resultPath;
if (!path || path === arguments[0]) return null;
const uri = results[path].data_uri;
const img = Array.from(document.images).find(i => i.src === uri && !i.closest('nav'));
return img && img.complete ? {path: path, mime: results[path].mime_type, width: img.naturalWidth}
                           : null;
"""


class BrowserMissing(RuntimeError):
    pass


class ReportBrowser:
    """``with ReportBrowser() as b: b.open(path)``; then navigate with :meth:`click_nav`."""

    def __init__(self):
        for exe in (CHROMIUM, CHROMEDRIVER):
            if not Path(exe).exists():
                raise BrowserMissing(
                    f"{exe} not found: install Debian's chromium and chromium-driver "
                    "(scripts/setup.sh does)"
                )
        self.profile = tempfile.mkdtemp(prefix="report-browser-")
        self.driver = None

    def __enter__(self) -> ReportBrowser:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.set_page_load_timeout(120)
        self.errors: list[str] = []
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.driver is not None:
                self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    # -- observation --
    def collect_errors(self) -> list[str]:
        """JavaScript errors logged since the last call (also kept in :attr:`errors`)."""
        new = [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE"
        ]
        self.errors += new
        return new

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def text(self) -> str:
        return self.driver.find_element("tag name", "body").text

    def broken_images(self) -> list[str]:
        return self.js(BROKEN_IMAGES_JS)

    def wait(self, condition, what: str, timeout: float = WAIT_S):
        """Poll ``condition()`` until it returns something truthy; fail naming ``what``."""
        end = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}; JavaScript errors: "
                    f"{self.collect_errors() or 'none'}"
                )
            time.sleep(0.05)

    # -- navigation --
    def open(self, path: Path) -> None:
        """Load the report and wait until its menu is drawn."""
        self.driver.get(Path(path).resolve().as_uri())
        self.wait(lambda: self.nav_items(), "the report's menu")

    def nav_items(self) -> list[str]:
        """The texts of the links of the navigation pane, in order."""
        return self.js(NAV_LINKS_JS)

    def click_nav(self, label: str) -> None:
        """Click the navigation entry (menu item, breadcrumb, category) reading ``label``."""
        try:
            links = self.wait(lambda: (lambda ls: ls if label in ls else None)(self.nav_items()),
                              f"navigation entry {label!r}", timeout=5)  # fmt: skip
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the pane shows {self.nav_items()}") from None
        self.driver.find_elements("css selector", "nav a")[links.index(label)].click()

    def home(self) -> None:
        """Back to the menu: the first breadcrumb (the house icon)."""
        self.driver.find_element("css selector", "nav nav ol li a").click()
        self.wait(lambda: "Workflow" in self.nav_items(), "the menu")

    def categories(self) -> dict[str, list[str]]:
        """``{category: [subcategory, ...]}`` as the report's own data lists them."""
        return self.js(
            "return Object.fromEntries(Object.entries(categories)"
            ".map(([c, s]) => [c, Object.keys(s)]));"
        )

    def show_every_result(self) -> list[dict]:
        """Click the view button of every row of the current results table; for a figure, wait
        until the content pane shows it decoded. Returns one record per row: its label cells,
        the result's MIME type and, for figures, its path and decoded image width."""
        seen = []
        for i, (cells, download) in enumerate(self.js(RESULT_ROWS_JS)):
            if download:  # tables and other files: the view button is a download link
                seen.append({"labels": cells, "mime": download, "width": None})
                continue
            before = self.js("return app.state.resultPath || null;")
            rows = self.driver.find_elements("css selector", "nav table tbody tr")
            rows[i].find_element("css selector", "td:last-child a").click()
            shown = self.wait(
                lambda before=before: self.js(SHOWN_RESULT_JS, before),
                f"the figure of row {cells} to be shown",
            )
            seen.append({"labels": cells, **shown})
        return seen
