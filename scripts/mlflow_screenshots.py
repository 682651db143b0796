"""MLflow UI pages as a researcher sees them after a few clicks, for the README. Headless
Chromium (the system's) driven by Playwright; the assistant panel is closed on both.

    python scripts/mlflow_screenshots.py runs URL OUT.png      # parent run expanded to its trials
    python scripts/mlflow_screenshots.py compare URL OUT.png   # parallel coordinates to test top-1"""
import shutil
import sys

from playwright.sync_api import Page, sync_playwright

COMPARE_METRIC = "finetune/test_top1"


def expand_study_run(page: Page) -> None:
    """Opens the study's parent run to show its nested trials; widens the run-name column."""
    page.locator("button[data-component-id*='runnamecellrenderer']").first.click()
    header = page.locator("[role=columnheader][col-id='attributes.`Run Name`']").bounding_box()
    x, y = header["x"] + header["width"] - 2, header["y"] + header["height"] / 2
    page.mouse.move(x - 20, y)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 160, y, steps=10)
    page.mouse.up()


def plot_test_top1(page: Page) -> None:
    """The parallel-coordinates plot ends on test top-1 (MLflow picks the first metric by name)."""
    metrics = page.locator(".du-bois-light-select-multiple").nth(1)
    remove = metrics.locator(".du-bois-light-select-selection-item-remove")
    for _ in range(remove.count()):
        remove.first.click()
    metrics.click()
    page.keyboard.type(COMPARE_METRIC)
    page.wait_for_timeout(500)
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")


PAGES = {"runs": (expand_study_run, 900), "compare": (plot_test_top1, 1100)}


def main(kind: str, url: str, out: str) -> None:
    arrange, height = PAGES[kind]
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser_path:
        sys.exit("no Chromium on PATH (scripts/install_browser.sh)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1500, "height": height})
        page.goto(url)
        page.wait_for_timeout(8000)  # the page's tables and plots load after it
        close = page.get_by_role("button", name="Close")
        if close.count():
            close.first.click()
        arrange(page)
        page.wait_for_timeout(1500)
        page.screenshot(path=out)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
