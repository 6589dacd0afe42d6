"""The garden in a real browser: the system's headless Chromium driven by Selenium.

Debian's `chromium` and `chromium-driver` (CI installs them in .ci/run; no browser is
downloaded). Pages render, links and the search form work without JavaScript, nothing
hostile runs, every page fits 320 CSS pixels, the skip link comes first on the keyboard,
and text meets WCAG AA contrast. Screenshots of the main pages are saved in the test's
tmp dir (and in $HEARTH_SCREENSHOTS when set, which is how docs/garden-*.png were made).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.app import Hearth
from knowledge.clock import ManualClock
from tests.harness.console_harness import Step, make_config, run_script
from tests.harness.garden_harness import (
    GROVE,
    GUILD_DESCRIPTION,
    PRIVATE_CHANNEL,
    SECRET_COMMUNITY,
    WEB,
    Visitor,
    captured,
    garden_steps,
    share,
)
from tests.test_garden_rituals import START, three_weeks

MORE = {
    "cora": (
        "Pair on the hard parts; review the easy ones alone #practice #pairing",
        "Name the reviewer before the pull request is opened, so nobody waits #review",
        "A retro is only as good as the one change it commits to #retro #practice",
    ),
    "gwen": (
        "Sow beans after the last frost, not before: cold soil rots them #seeds",
        "Compost needs air as much as greens and browns #soil #compost",
    ),
}


def more_insights(out: io.StringIO) -> list[Step]:
    """A few more public insights, so the screenshots show a garden in use."""
    steps: list[Step] = []
    for who, channel in (("cora", "general"), ("gwen", PRIVATE_CHANNEL)):
        steps += [f":as {who}", f":channel {channel}"]
        for text in MORE[who]:
            steps += [f"/insight {text}", share(out, text)]
    return steps


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no system Chromium here: apt-get install chromium chromium-driver (CI does)",
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
CONTRAST = """
function rgb(s){const m=s.match(/[\\d.]+/g).map(Number);return m.slice(0,3);}
function bg(el){while(el){const c=getComputedStyle(el).backgroundColor;
  if(c&&!c.startsWith('rgba(0, 0, 0, 0)')&&c!=='transparent')return rgb(c);el=el.parentElement;}
  return [255,255,255];}
return Array.from(document.querySelectorAll(arguments[0])).slice(0,20).map(
  el=>[el.tagName+'.'+el.className, rgb(getComputedStyle(el).color), bg(el)]);
"""


def luminance(color: list[float]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[float], b: list[float]) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def browser(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument("--window-size=1280,1000")
    return webdriver.Chrome(options=options, service=Service(executable_path=str(DRIVER)))


def navigate(driver: Any, act: Any) -> None:
    """Do `act` (a click, an Enter) and wait until the next page has replaced this one."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    def replaced(d: Any) -> bool:
        # ChromeDriver may answer a node that just left the document with "Node with given
        # id does not belong to the document" rather than a stale-element error: the same
        # fact, the old page is gone
        try:
            return bool(expected_conditions.staleness_of(old)(d))
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise

    old = driver.find_element(By.TAG_NAME, "html")
    act()
    WebDriverWait(driver, 20).until(replaced)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def walk_the_garden(base: str, hostile_id: str, shots: Path, profile: Path) -> dict[str, Any]:
    """What a visitor does, in the browser; returns what the test checks."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    seen: dict[str, Any] = {"overflow": {}, "contrast": []}
    driver = browser(profile)
    try:
        driver.set_page_load_timeout(30)

        def shot(name: str) -> None:
            driver.save_screenshot(str(shots / f"garden-{name}.png"))

        def check_contrast(page: str) -> None:
            for selector in ("body", "a", ".meta", ".tag", "h1", "button", "dt", "mark"):
                for what, fg, back in driver.execute_script(CONTRAST, selector):
                    seen["contrast"].append((page, what, round(contrast(fg, back), 2)))

        driver.get(base + "/")
        seen["home_h1"] = driver.find_element(By.TAG_NAME, "h1").text
        seen["svg_nodes"] = len(driver.find_elements(By.CSS_SELECTOR, "svg circle.node"))
        shot("constellation")
        check_contrast("/")
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(Keys.TAB)
        seen["first_tab"] = driver.switch_to.active_element.text
        navigate(
            driver,
            driver.find_element(By.CSS_SELECTOR, "ul.communities a[href='/c/guild/']").click,
        )
        seen["community_h1"] = driver.find_element(By.TAG_NAME, "h1").text
        shot("community")
        check_contrast("/c/guild/")
        navigate(driver, driver.find_element(By.PARTIAL_LINK_TEXT, "Name the reviewer").click)
        seen["insight_h1"] = driver.find_element(By.TAG_NAME, "h1").text
        seen["insight_url"] = driver.current_url
        shot("insight")
        check_contrast("insight")
        navigate(driver, driver.find_element(By.CSS_SELECTOR, "a.tag[href$='/t/review']").click)
        seen["tag_h1"] = driver.find_element(By.TAG_NAME, "h1").text
        box = driver.find_element(By.ID, "site-q")
        box.send_keys("review checklists")
        navigate(driver, lambda: box.send_keys(Keys.ENTER))
        seen["search_heading"] = driver.find_element(By.ID, "results").text
        shot("search")
        check_contrast("search")

        # 320 CSS pixels wide: nothing scrolls sideways, the hostile insight included
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 320, "height": 800, "deviceScaleFactor": 1, "mobile": True},
        )
        for path in ("/", "/c/guild/", "/search?q=review", f"/c/guild/i/{hostile_id}"):
            driver.get(base + path)
            seen["overflow"][path] = driver.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]"
            )
        shot("hostile-320")
        try:
            seen["alert"] = driver.switch_to.alert.text
        except NoAlertPresentException:
            seen["alert"] = None
        seen["hostile_rtl"] = driver.execute_script(
            "return getComputedStyle(document.querySelector('.insight .body')).direction"
        )
    finally:
        driver.quit()
    return seen


def sign_in_and_edit(
    base: str, link: str, insight_id: str, shots: Path, profile: Path
) -> dict[str, Any]:
    """A curator follows their link, signs in, edits a community-only insight on its
    page, then tries the same link again."""
    from selenium.webdriver.common.by import By

    seen: dict[str, Any] = {}
    driver = browser(profile)
    try:
        driver.set_page_load_timeout(30)
        driver.get(link)
        navigate(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click)
        seen["landed"] = driver.current_url
        seen["signed"] = driver.find_element(By.CSS_SELECTOR, ".signed").text
        driver.get(f"{base}/c/guild/i/{insight_id}")
        body = driver.find_element(By.ID, "body")
        body.clear()
        body.send_keys("Unlisted pricing plans can go public once the launch is announced")
        driver.find_element(By.ID, "tags").clear()
        driver.find_element(By.ID, "tags").send_keys("#launch")
        navigate(driver, driver.find_element(By.CSS_SELECTOR, "form.edit button").click)
        seen["after_edit"] = driver.find_element(By.CSS_SELECTOR, ".insight h1").text
        driver.save_screenshot(str(shots / "garden-curator.png"))
        # the ritual history, from the community page's link
        driver.get(f"{base}/c/guild/")
        navigate(driver, driver.find_element(By.CSS_SELECTOR, "a[href='/c/guild/rituals']").click)
        seen["rituals_h1"] = driver.find_element(By.TAG_NAME, "h1").text
        seen["rituals_plots"] = len(driver.find_elements(By.CSS_SELECTOR, "section.ritual svg"))
        seen["rituals_contrast"] = [
            (what, round(contrast(fg, back), 2))
            for selector in ("body", "a", ".meta", "h2", ".synthesis")
            for what, fg, back in driver.execute_script(CONTRAST, selector)
        ]
        driver.set_window_size(1280, 1700)  # both rituals in one picture
        driver.save_screenshot(str(shots / "garden-rituals.png"))
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 320, "height": 800, "deviceScaleFactor": 1, "mobile": True},
        )
        driver.get(f"{base}/c/guild/rituals")
        seen["rituals_320"] = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        # the constellation pulse, from the ritual history's link
        navigate(driver, driver.find_element(By.CSS_SELECTOR, "a[href='/c/guild/pulse']").click)
        seen["pulse_320"] = driver.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.set_window_size(1280, 1100)
        driver.get(f"{base}/c/guild/pulse")
        seen["pulse_h1"] = driver.find_element(By.TAG_NAME, "h1").text
        seen["pulse_plots"] = len(driver.find_elements(By.CSS_SELECTOR, ".pulse svg.plot"))
        seen["pulse_contrast"] = [
            (what, round(contrast(fg, back), 2))
            for selector in ("body", "a", ".meta", "figcaption", "th", "td")
            for what, fg, back in driver.execute_script(CONTRAST, selector)
        ]
        driver.save_screenshot(str(shots / "garden-pulse.png"))
        cookies = {c["name"]: c for c in driver.get_cookies()}
        seen["cookie"] = cookies.get("hearth_garden", {})
        driver.delete_all_cookies()
        driver.get(link)  # the same link, a second time
        seen["second_time"] = driver.find_element(By.TAG_NAME, "main").text
    finally:
        driver.quit()
    return seen


async def test_a_visitor_reads_the_garden_in_chromium(tmp_path: Path) -> None:
    config = make_config(
        f"sqlite:///{tmp_path / 'hearth.db'}",
        tmp_path,
        extra=WEB + GROVE,
        community_extra=GUILD_DESCRIPTION,
    )
    out = io.StringIO()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    seen: dict[str, Any] = {}

    async def visit(hearth: Hearth) -> None:
        hostile = captured(out, "<script>alert")
        seen.update(
            await asyncio.to_thread(
                walk_the_garden, Visitor.base(hearth), hostile, shots, tmp_path / "profile"
            )
        )

    async def curator(hearth: Hearth) -> None:
        link = re.findall(r"(http://\S+/login\?token=[A-Za-z0-9_-]+)", out.getvalue())[-1]
        secret = captured(out, SECRET_COMMUNITY)
        seen["curator"] = await asyncio.to_thread(
            sign_in_and_edit, Visitor.base(hearth), link, secret, shots, tmp_path / "profile2"
        )

    clock = ManualClock(START)
    printed = await run_script(
        config,
        [
            *garden_steps(out),
            *more_insights(out),
            *three_weeks(clock, out, add_reflection=False),
            visit,
            ":as cora",
            ":channel general",
            "/garden login",
            curator,
            "/search announced",
        ],
        clock,
        out=out,
    )
    curator_saw = seen["curator"]
    assert curator_saw["rituals_h1"] == "Rituals of The Guild"
    assert curator_saw["rituals_plots"] == 2  # the reflection and the anonymous pulse
    low = [c for c in curator_saw["rituals_contrast"] if c[1] < 4.5]
    assert not low, low
    assert curator_saw["rituals_320"][0] <= curator_saw["rituals_320"][1] == 320
    assert curator_saw["pulse_h1"] == "Constellation pulse"
    assert curator_saw["pulse_plots"] == 5  # captured, shared, adopted, people, answered
    low = [c for c in curator_saw["pulse_contrast"] if c[1] < 4.5]
    assert not low, low
    assert curator_saw["pulse_320"][0] <= curator_saw["pulse_320"][1] == 320
    assert curator_saw["landed"].endswith("/c/guild/")
    assert "Signed in as cora (curator) of The Guild" in " ".join(curator_saw["signed"].split())
    assert curator_saw["after_edit"].startswith("Unlisted pricing plans can go public")
    assert curator_saw["cookie"]["httpOnly"] is True
    assert curator_saw["cookie"]["sameSite"] == "Lax"
    assert "has been used or has expired" in curator_saw["second_time"]
    after = printed.split("/search announced", 1)[1]
    assert "Unlisted pricing plans can go public once the launch is announced" in after

    assert seen["home_h1"] == "The constellation" and seen["svg_nodes"] == 2
    assert seen["first_tab"] == "Skip to content"
    assert seen["community_h1"] == "The Guild"
    assert seen["insight_h1"].startswith("Name the reviewer before the pull request")
    assert "/c/guild/i/" in seen["insight_url"]
    assert seen["tag_h1"] == "#review"
    assert "match “review checklists”" in seen["search_heading"]
    assert seen["alert"] is None  # the <script> in the hostile insight never ran
    for path, (scroll_width, viewport) in seen["overflow"].items():
        assert viewport == 320 and scroll_width <= viewport, (path, scroll_width)
    low = [c for c in seen["contrast"] if c[2] < 4.5]
    assert not low, low  # WCAG AA for normal text
    for name in (
        "constellation",
        "community",
        "insight",
        "search",
        "hostile-320",
        "rituals",
        "pulse",
    ):
        assert (shots / f"garden-{name}.png").stat().st_size > 5_000
    if target := os.environ.get("HEARTH_SCREENSHOTS"):
        for png in shots.glob("*.png"):
            shutil.copy(png, Path(target) / png.name)
