"""Every email of the matrix in Chromium on a phone (issue 18): no word broken inside, readable in
light and dark mode, one screenshot per kind, language and variant.

The emails are those of ``tests/integration/test_email_matrix.py``: every kind × en/de/fr × with and
without the Manage button, rendered from real bookings.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.e2e.conftest import artifacts_dir, html_of
from tests.integration.test_email_matrix import Rendered, matrix  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PHONE = {"width": 375, "height": 800}

# Each word (a run without spaces) whose letters sit on two lines with a letter or digit on both
# sides of the break: the browser cut it because it did not fit (``word-break: break-word``).
# Breaks after a dash, a slash or other punctuation are the browser's normal line breaks.
BROKEN_WORDS = """() => {
  const broken = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  const letter = /[\\p{L}\\p{N}]/u;
  let node;
  while ((node = walker.nextNode())) {
    const text = node.textContent;
    for (const match of text.matchAll(/\\S+/g)) {
      let lastTop = null;
      for (let i = 0; i < match[0].length; i++) {
        range.setStart(node, match.index + i);
        range.setEnd(node, match.index + i + 1);
        const rects = range.getClientRects();  // a soft hyphen's break shows as an extra first rect
        const rect = rects[rects.length - 1];
        if (!rect || rect.width === 0) continue;
        const top = Math.round(rect.top);
        const inside = letter.test(match[0][i]) && letter.test(match[0][i - 1]);
        if (lastTop !== null && top > lastTop + 2 && inside) {
          broken.push(match[0]);
          break;
        }
        lastTop = top;
      }
    }
  }
  return broken;
}"""

# Text whose colour and background (the nearest ancestor's that is not transparent) are below
# WCAG's 4.5:1 contrast.
LOW_CONTRAST = """() => {
  const rgb = (value) => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(',').map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const channel = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let node;
  while ((node = walker.nextNode())) {
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    const style = getComputedStyle(el);
    const fg = rgb(style.color), bg = background(el);
    const a = lum(fg), b = lum(bg);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const what = `${style.color} on rgb(${bg.r},${bg.g},${bg.b})`;
    if (ratio < 4.5) low.push(`${node.textContent.trim().slice(0, 40)} (${what}: ${ratio.toFixed(2)})`);
  }
  return low;
}"""

CARD_BACKGROUND = """() => getComputedStyle(
  document.querySelector('.mf-card') || document.body).backgroundColor"""


def _phone(browser: Browser, scheme: str) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)  # type: ignore[arg-type]
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def light_phone(browser: Browser) -> Iterator[Page]:
    """A 375 px wide page, light mode."""
    yield from _phone(browser, "light")


@pytest.fixture
def dark_phone(browser: Browser) -> Iterator[Page]:
    """A 375 px wide page, dark mode."""
    yield from _phone(browser, "dark")


def _show(page: Page, rendered: Rendered) -> None:
    page.set_content(html_of(rendered.message), wait_until="load")


def test_no_word_is_broken_inside_on_a_phone(
    light_phone: Page,
    matrix: list[Rendered],  # noqa: F811 - the fixture imported above
) -> None:
    """At 375 px every word of every email stays whole; a screenshot of each is kept."""
    folder = artifacts_dir() / "emails-375"
    folder.mkdir(parents=True, exist_ok=True)
    problems: dict[str, Any] = {}
    for rendered in matrix:
        _show(light_phone, rendered)
        shot = folder / f"{rendered.kind}-{rendered.locale}-{rendered.variant}.png"
        light_phone.screenshot(path=str(shot), full_page=True)
        broken = light_phone.evaluate(BROKEN_WORDS)
        if broken:
            problems[rendered.where] = broken
        overflow = light_phone.evaluate("() => document.documentElement.scrollWidth")
        if overflow > PHONE["width"]:
            problems[f"{rendered.where} width"] = overflow
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_every_email_is_readable_in_light_and_dark_mode(
    light_phone: Page,
    dark_phone: Page,
    matrix: list[Rendered],  # noqa: F811 - the fixture imported above
) -> None:
    """Every text has 4.5:1 contrast on its background in both modes, and dark mode is dark."""
    problems: dict[str, Any] = {}
    for rendered in matrix:
        if rendered.locale != "en":
            continue  # the colours do not depend on the language
        for mode, page in (("light", light_phone), ("dark", dark_phone)):
            _show(page, rendered)
            low = page.evaluate(LOW_CONTRAST)
            if low:
                problems[f"{rendered.where} {mode}"] = low
        card = dark_phone.evaluate(CARD_BACKGROUND)
        channels = [int(v) for v in card.removeprefix("rgb(").removesuffix(")").split(",")[:3]]
        if max(channels) > 80:
            problems[f"{rendered.where} dark card"] = card
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())
