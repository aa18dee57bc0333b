"""The review app in a real browser (Debian's Chromium through Playwright): sign in, open the
queue, play a video, accept a guess, find it on the brief, undo; CSRF, escaping and roles."""

import re
import shutil
from pathlib import Path

import pytest

from tests.web.conftest import PASSWORD, brief_ref, deliver, import_csv, process

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
XSS = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> subject'

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture
async def browser():
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def site(people, make_client, tmp_path, tiny_mp4):
    """The app on 127.0.0.1 with two briefs and one unmatched item carrying a real video."""
    ctx = people
    await import_csv(ctx, tmp_path, [("r1", "Rainwater tanks for schools", "team@example.org"),
                                     ("r2", "Solar lamps for night classes", "team@example.org")])
    item_id = await deliver(ctx, subject=XSS, sender="team@example.org",
                            body="Hello,\nhere is the video of our practice.\nThe team",
                            attachments=[("practice video.mp4", tiny_mp4, "video/mp4")])
    await process(ctx)
    client = await make_client(ctx)
    return {"url": str(client.make_url("")).rstrip("/"), "item": item_id, "ctx": ctx,
            "refs": [await brief_ref(ctx, "r1"), await brief_ref(ctx, "r2")]}


async def _signin(page, base, name):
    await page.goto(f"{base}/queue")
    assert "/signin" in page.url
    await page.fill('input[name="name"]', name)
    await page.fill('input[name="password"]', PASSWORD)
    await page.click('button[type="submit"]')
    await page.wait_for_url(f"{base}/queue")


def _shot(name):
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


async def test_a_coordinator_works_an_item_end_to_end(browser, site, tiny_mp4):
    base, item_id = site["url"], site["item"]
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    ranges = []
    page.on("response", lambda r: ranges.append(r.status) if "/media/" in r.url else None)
    await _signin(page, base, "cora")
    await page.screenshot(path=_shot("queue.png"), full_page=True)
    assert await page.locator("table.queue tbody tr").count() == 1
    await page.click(f'table.queue a[href="/items/{item_id}"] >> nth=0')
    await page.wait_for_url(f"{base}/items/{item_id}")
    assert await page.evaluate("window.__xss") is None  # the subject is text, not markup
    assert XSS in await page.locator("dd.subject").inner_text()

    video = page.locator("video")
    await video.wait_for()
    state = await page.wait_for_function(
        "() => { const v = document.querySelector('video');"
        " return v && v.readyState >= 1 ? [v.readyState, v.duration] : null; }", timeout=30_000)
    ready, duration = await state.json_value()
    if shutil.which("ffmpeg"):
        assert ready >= 1 and duration > 0.5
    assert 206 in ranges or 200 in ranges  # the player fetched the blob over HTTP
    await page.screenshot(path=_shot("item.png"), full_page=True)
    await page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, upright
    await page.screenshot(path=_shot("item-tablet.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})

    await page.locator("ol.candidates li").first.locator("button").click()
    await page.wait_for_url(f"{base}/items/{item_id}?done=assign")
    flash = await page.locator(".flash").inner_text()
    ref = flash.removeprefix("Assigned to ").rstrip(".")
    assert ref in site["refs"]

    await page.click(f"h1 a[href='/briefs/{ref}']")
    await page.wait_for_url(f"{base}/briefs/{ref}")
    assert await page.locator(f'table a[href="/items/{item_id}"]').count() >= 1
    assert await page.locator(".gallery video").count() == 1
    await page.screenshot(path=_shot("brief.png"), full_page=True)

    await page.goto(f"{base}/items/{item_id}")
    await page.click("#undo")
    await page.wait_for_url(f"{base}/items/{item_id}?done=undo")
    assert "unmatched again" in await page.locator(".flash").inner_text()


async def test_a_post_without_the_csrf_token_gets_403_in_the_browser(browser, site):
    base, item_id = site["url"], site["item"]
    page = await browser.new_page()
    await _signin(page, base, "cora")
    status = await page.evaluate(
        """async (path) => (await fetch(path, {method: "POST",
              body: new URLSearchParams({reason: "spam"})})).status""",
        f"/items/{item_id}/reject")
    assert status == 403
    await page.goto(f"{base}/items/{item_id}")
    assert "unmatched" in await page.locator("h1 .badge").first.inner_text()


async def test_a_viewer_cannot_assign(browser, site):
    base, item_id = site["url"], site["item"]
    page = await browser.new_page()
    await _signin(page, base, "vic")
    await page.goto(f"{base}/items/{item_id}")
    assert await page.locator("text=Accept this guess").count() == 0
    assert await page.locator('input[name="_csrf"]').count() == 1  # only sign-out's form
    token = await page.locator('input[name="_csrf"]').get_attribute("value")
    status = await page.evaluate(
        """async ([path, token, ref]) => (await fetch(path, {method: "POST",
              body: new URLSearchParams({_csrf: token, ref: ref})})).status""",
        [f"/items/{item_id}/assign", token, site["refs"][0]])
    assert status == 403


async def test_keyboard_only_reaches_the_main_action(browser, site):
    base, item_id = site["url"], site["item"]
    page = await browser.new_page()
    await _signin(page, base, "cora")
    await page.goto(f"{base}/items/{item_id}")
    await page.keyboard.press("g")  # focuses the first "Accept this guess"
    focused = await page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Accept this guess"
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/items/{item_id}?done=assign")


LONG_SENDER = "maria.fernanda.gonzalez-rodriguez@ministerio-de-salud-publica.example.org"


async def test_the_queue_works_on_a_phone(browser, site):
    """390 px wide: cards, the filters folded, nothing scrolls sideways, addresses whole."""
    ctx, base = site["ctx"], site["url"]
    await deliver(ctx, subject="Vídeo de la línea de apoyo comunitario en zonas rurales",
                  sender=LONG_SENDER, body="Vea https://youtu.be/dQw4w9WgXcQ")
    await process(ctx)
    page = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    await _signin(page, base, "cora")
    await page.screenshot(path=_shot("queue-phone.png"), full_page=True)
    width = await page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    assert await page.locator("#filters").get_attribute("open") is None  # folded
    assert not await page.locator('.filters select[name="channel"]').is_visible()
    assert await page.locator("table.queue thead").is_hidden()
    assert await page.evaluate(
        "getComputedStyle(document.querySelector('table.queue tbody tr')).display") == "grid"
    # The address has a line of its own: as wide as the card allows, broken only past it.
    sender = page.locator("td.sender", has_text="maria.fernanda")
    box, card = await sender.bounding_box(), await sender.locator("xpath=..").bounding_box()
    assert box["width"] > card["width"] * 0.75
    first_box = await page.locator("table.queue tbody tr").first.bounding_box()
    assert first_box["y"] < 844  # the first item is on the first screen
    await page.click("#filters > summary")
    assert await page.locator('.filters select[name="channel"]').is_visible()
    await page.screenshot(path=_shot("queue-phone-filters.png"), full_page=True)
    width = await page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width


async def test_the_filters_are_open_on_a_wide_screen(browser, site):
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await _signin(page, site["url"], "cora")
    assert await page.locator('.filters select[name="channel"]').is_visible()


async def test_a_youtube_link_plays_in_the_providers_player_only_when_asked(browser, site):
    """Opening the item reaches no one; "Play here" loads YouTube's no-cookie player, which
    the page's CSP lets in (the player is answered here: nothing leaves loopback)."""
    ctx, base = site["ctx"], site["url"]
    item_id = await deliver(ctx, subject="our film", sender="team@example.org",
                            body="It is on YouTube: https://youtu.be/dQw4w9WgXcQ?si=x1")
    await process(ctx)
    page = await browser.new_page()
    outside = []

    async def answer(route):
        outside.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html",
                            body="<title>player</title><p>the provider's player</p>")

    await page.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), answer)
    await _signin(page, base, "cora")
    await page.goto(f"{base}/items/{item_id}")
    play = page.locator("button[data-embed]")
    assert await play.count() == 1 and outside == []
    await play.click()
    frame = page.locator("figure.media .embed iframe")
    await frame.wait_for()
    assert await frame.get_attribute("src") == "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"
    player = page.frame_locator("figure.media .embed iframe")
    assert "the provider's player" in await player.locator("p").inner_text()
    assert outside == ["https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ"]
