"""Open a self-contained HTML report in headless Chromium: console errors, elements, a full-page screenshot.

A helper for tests, not a test file. Chromium and chromedriver come from PATH (``scripts/install-browser.sh``
installs them); selenium drives them. Without them, :func:`require_browser` skips the test, or fails it when
``MAWIS_REQUIRE_BROWSER=1`` (CI sets it, so the browser tests can never be skipped there unnoticed).

A test for another page is a few lines with the ``open_in_chromium`` fixture of ``tests/conftest.py``::

    def test_lifetime_report_in_chromium(open_in_chromium, tmp_path):
        page = open_in_chromium(render_lifetime_report(make_predict_dir(tmp_path)))
        assert page.errors == [] and page.title == "..." and page.images_loaded()

For a check the snapshot lacks, pass ``counts=``/``texts=`` selectors, or ``inspect=`` a function of the live
selenium driver (called after load, before the screenshot; its result is ``PageCheck.inspected``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# Exactly these switches, plus a fresh --user-data-dir per page.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")
MAX_SCREENSHOT_HEIGHT = 12_000  # px; a longer page is cut there
LOAD_TIMEOUT = 60  # s; two shared CPU cores, a page with several MB of inline PNGs
REQUIRE_ENV = "MAWIS_REQUIRE_BROWSER"
SCREENSHOTS_ENV = "MAWIS_SCREENSHOTS"
INSTALL_HINT = "run scripts/install-browser.sh as root, or: sudo apt-get install chromium chromium-driver"

# Everything the snapshot reads from the page, in one round trip.
_SNAPSHOT_JS = """
const text = e => (e.textContent || "").replace(/\\s+/g, " ").trim();
return {
  title: document.title,
  h1: Array.from(document.querySelectorAll("h1"), text),
  h2: Array.from(document.querySelectorAll("h2"), text),
  section_ids: Array.from(document.querySelectorAll("section[id]"), e => e.id),
  images: Array.from(document.images, i => ({alt: i.alt || "", complete: i.complete,
                                            width: i.naturalWidth, height: i.naturalHeight})),
  counts: Object.fromEntries(arguments[0].map(s => [s, document.querySelectorAll(s).length])),
  texts: Object.fromEntries(arguments[1].map(s => [s, Array.from(document.querySelectorAll(s), text)])),
};
"""
_PAGE_HEIGHT_JS = ("return Math.max(document.documentElement.scrollHeight, document.body ? "
                   "document.body.scrollHeight : 0);")


def browser_missing() -> str:
    """Why the browser tests cannot run here ('' when they can)."""
    lacking = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if lacking:
        return f"{' and '.join(lacking)} not on PATH ({INSTALL_HINT})"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e .[test])"
    return ""


def require_browser() -> None:
    """Skip the calling test when Chromium is missing, or fail it when MAWIS_REQUIRE_BROWSER=1."""
    why = browser_missing()
    if not why:
        return
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{REQUIRE_ENV}=1 but the browser tests cannot run: {why}", pytrace=False)
    pytest.skip(f"browser test: {why}")


@dataclass
class PageCheck:
    """What Chromium made of one page."""

    url: str
    title: str
    h1: list[str]
    h2: list[str]
    section_ids: list[str]
    images: list[dict]  # per <img>: alt, complete, width/height (natural size; 0 when it did not decode)
    console: list[dict]  # every browser log entry: level, message, source, timestamp
    screenshot: Path
    page_height: int  # px, the document's scrollHeight; the screenshot is min(this, MAX_SCREENSHOT_HEIGHT) tall
    counts: dict[str, int] = field(default_factory=dict)  # css selector -> number of matches
    texts: dict[str, list[str]] = field(default_factory=dict)  # css selector -> text of each match
    inspected: Any = None  # what inspect(driver) returned

    @property
    def errors(self) -> list[str]:
        """Console messages at level SEVERE: console.error, uncaught exceptions, failed loads."""
        return [e["message"] for e in self.console if e.get("level") == "SEVERE"]

    def images_loaded(self) -> int:
        """How many <img> decoded (natural width above zero)."""
        return sum(1 for i in self.images if i["complete"] and i["width"] > 0)

    def count(self, selector: str) -> int:
        return self.counts[selector]

    def text(self, selector: str) -> list[str]:
        return self.texts[selector]


def open_report(html_path: Path, screenshot: Path, width: int = 1280, height: int = 900, *,
                counts: Iterable[str] = (), texts: Iterable[str] = (),
                inspect: Callable[[Any], Any] | None = None) -> PageCheck:
    """Open ``html_path`` (file://) in a fresh headless Chromium, read it, save a full-page PNG; always quit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    html_path = Path(html_path).absolute()
    if not html_path.is_file():
        raise FileNotFoundError(html_path)
    screenshot = Path(screenshot)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    counts, texts = list(counts), list(texts)

    work = Path(tempfile.mkdtemp(prefix="mawis-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={work / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "chromedriver",
                      log_output=str(work / "chromedriver.log"))
    driver = None
    try:
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except Exception as exc:  # the driver's log says why Chromium did not start
            log = work / "chromedriver.log"
            tail = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
            raise RuntimeError(f"Chromium did not start ({type(exc).__name__}: {exc})\n{tail}") from exc
        driver.set_page_load_timeout(LOAD_TIMEOUT)
        driver.set_window_size(width, height)
        driver.get(html_path.as_uri())
        WebDriverWait(driver, LOAD_TIMEOUT).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        snap = driver.execute_script(_SNAPSHOT_JS, counts, texts)
        inspected = inspect(driver) if inspect is not None else None
        console = list(driver.get_log("browser"))
        page_height = _full_page_screenshot(driver, screenshot, width)
        console += driver.get_log("browser")  # anything the resize triggered
        return PageCheck(url=driver.current_url, title=snap["title"], h1=snap["h1"], h2=snap["h2"],
                         section_ids=snap["section_ids"], images=snap["images"], console=console,
                         screenshot=screenshot, page_height=page_height, counts=snap["counts"], texts=snap["texts"], inspected=inspected)
    finally:
        if driver is not None:
            driver.quit()
        shutil.rmtree(work, ignore_errors=True)


def _full_page_screenshot(driver, path: Path, width: int) -> int:
    """Make the viewport as tall as the document (up to MAX_SCREENSHOT_HEIGHT), save it as PNG; the page height."""
    page_height = int(driver.execute_script(_PAGE_HEIGHT_JS))
    want = min(page_height, MAX_SCREENSHOT_HEIGHT)
    driver.set_window_size(width, want)
    # the window's outer size may include a frame: grow it by what the viewport still lacks
    inner = int(driver.execute_script("return window.innerHeight"))
    if inner < want:
        driver.set_window_size(width, want + (want - inner))
    if not driver.save_screenshot(str(path)):
        raise RuntimeError(f"Chromium did not save the screenshot {path}")
    return page_height


def keep_screenshot(path: Path, name: str) -> Path | None:
    """Copy a screenshot into $MAWIS_SCREENSHOTS (when set) as ``name``; return the copy."""
    folder = os.environ.get(SCREENSHOTS_ENV, "")
    if not folder:
        return None
    target = Path(folder) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, target)
    return target
