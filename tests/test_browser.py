"""Reports opened in a real browser (headless Chromium): they load without console errors and show what they should.

Needs chromium and chromedriver on PATH (scripts/install-browser.sh). Without them these tests skip,
unless MAWIS_REQUIRE_BROWSER=1 (CI), where they fail. MAWIS_SCREENSHOTS=DIR keeps the screenshots.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from mawis.reports.comparison import SECTIONS, TITLE, render_comparison
from tests.browser import MAX_SCREENSHOT_HEIGHT
from tests.test_report_comparison import FINDINGS, make_eval_dir

pytestmark = pytest.mark.browser

NO_SIDEWAYS_SCROLL_JS = "return document.documentElement.scrollWidth <= window.innerWidth;"


def test_comparison_page_renders_in_chromium(open_in_chromium, tmp_path):
    page = open_in_chromium(render_comparison(make_eval_dir(tmp_path / "eval")),
                            counts=["nav a", "baseline", "table.data"], texts=["#findings li", "#metrics"],
                            inspect=lambda driver: driver.execute_script(NO_SIDEWAYS_SCROLL_JS))
    assert page.errors == [], page.errors
    assert page.url.startswith("file://") and page.url.endswith("/comparison.html")
    assert page.title == TITLE and page.h1 == [TITLE]
    for anchor, heading in SECTIONS:
        assert anchor in page.section_ids and heading in page.h2
    assert page.count("nav a") == len(SECTIONS) - 1
    assert page.text("#findings li") == FINDINGS
    # the label with markup-like text shows as text and did not become an element
    assert "Supervised CNN <baseline>" in page.text("#metrics")[0] and page.count("baseline") == 0
    assert page.count("table.data") >= 1
    assert page.images and page.images_loaded() == len(page.images), page.images  # every figure decodes
    assert page.inspected is True  # fits 1280 px: no sideways scrolling
    with Image.open(page.screenshot) as png:  # the whole page, not one screen
        assert png.format == "PNG" and png.width == 1280 and png.height == page.page_height > 900


def test_console_errors_and_broken_images_are_reported(open_in_chromium, tmp_path):
    """Negative control: the checks above would catch a page that logs errors or has a broken figure."""
    html = tmp_path / "broken.html"
    html.write_text('<!DOCTYPE html><html><head><title>broken</title></head><body><h1>broken</h1>'
                    '<img src="data:image/png;base64,AAAA" alt="not a png">'
                    '<script>console.error("boom"); throw new Error("kaboom");</script></body></html>')
    page = open_in_chromium(html)
    assert any("boom" in e for e in page.errors) and any("kaboom" in e for e in page.errors), page.console
    assert len(page.images) == 1 and page.images_loaded() == 0
    assert page.title == "broken" and Path(page.screenshot).is_file()


def test_screenshot_covers_a_long_page_up_to_the_cap(open_in_chromium, tmp_path):
    html = tmp_path / "long.html"
    html.write_text('<!DOCTYPE html><html><body style="margin:0"><div style="height:20000px"></div></body></html>')
    page = open_in_chromium(html, width=800)
    assert page.errors == [] and page.page_height == 20000
    with Image.open(page.screenshot) as png:
        assert png.size == (800, MAX_SCREENSHOT_HEIGHT)
