"""The import page's column pick in a real browser (Debian's Chromium through Playwright):
upload a SurveyMonkey export, see the columns picked, change the email pick, import."""

import pytest

from intake.review.views import briefs_view
from tests.test_survey_exports import SURVEYS
from tests.web.test_browser import CHROMIUM, _shot, _signin, browser  # noqa: F401 - fixture

pytestmark = pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture
async def site(people, make_client):
    client = await make_client(people)
    return {"url": str(client.make_url("")).rstrip("/"), "ctx": people}


async def test_a_coordinator_picks_the_columns_of_an_upload(browser, site):  # noqa: F811
    base, ctx = site["url"], site["ctx"]
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await _signin(page, base, "cora")
    await page.goto(f"{base}/import")
    await page.set_input_files('input[name="file"]', str(SURVEYS / "surveymonkey.csv"))
    await page.click('button[type="submit"].primary')
    await page.locator("#columns").wait_for()
    await page.screenshot(path=_shot("import-columns.png"), full_page=True)

    def picked(name):  # noqa: ANN001, ANN202
        return page.locator(f'select[name="{name}"] option:checked').inner_text()

    assert (await picked("title")).startswith(
        "J · What is the title of your practice? / Open-Ended Response")
    assert (await picked("response_id")).startswith("A · Respondent ID")
    assert (await picked("email")).startswith("K · Your email address")
    assert await page.locator("table.headers tbody tr").count() == 16
    await page.select_option('select[name="email"]', value="")  # import without emails
    await page.click('#columns button[type="submit"].primary')
    await page.get_by_text("Imported surveymonkey.csv").wait_for()
    assert "2 rows: 2 new" in await page.locator("section.ok").inner_text()
    briefs = await briefs_view(ctx)
    assert sorted(b["title"] for b in briefs) == ["Mobile vaccination teams in rural districts",
                                                  "School gardens against anaemia"]
    assert {b["email"] for b in briefs} == {None}

    # The next upload comes with the title and response id picked as remembered (by name).
    await page.goto(f"{base}/import")
    await page.set_input_files('input[name="file"]', str(SURVEYS / "surveymonkey.csv"))
    await page.click('button[type="submit"].primary')
    await page.locator("#columns").wait_for()
    assert (await picked("title")).startswith("J · What is the title")
    await page.close()
