"""The real app in a real browser: ``streamlit run`` on a loopback port over a private
copy of the seed index, driven by headless Chromium through selenium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import stop

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
QUESTION = "What did Vietnam and Russia agree in 2021?"
RUSSIA_DOC = "2984af66f89cc659"
SCREENSHOT = ROOT / "reports" / "screenshots" / "chat.png"

pytestmark = pytest.mark.browser


def _rects(driver, elements: list) -> list[dict]:
    """The elements' bounding boxes, all read in one script, so at one scroll position."""
    return driver.execute_script(
        "return Array.from(arguments).map(e => { const r = e.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height}; });", *elements)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"streamlit did not serve {url} within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def server(writable_index, tmp_path) -> Iterator[str]:
    """The app on a free loopback port; always terminated."""
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = os.environ | {"RAG_INDEX_DIR": str(writable_index), "RAG_REPORTS_DIR": str(tmp_path / "reports")}
    command = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "ui" / "app.py"),
        "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_serving(url, process, log)
        yield url
    finally:
        stop(process)
    assert "Traceback" not in log.read_text(errors="replace"), "the server logged an exception"


@pytest.fixture
def driver(tmp_path):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER} (make browser)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield browser
    finally:
        browser.quit()


def toggle_first(driver, label: str) -> None:
    """Open or close the first card's expander called ``label``."""
    from selenium.webdriver.common.by import By

    summaries = driver.find_elements(By.CSS_SELECTOR, '[class*="st-key-card-"] [data-testid="stExpander"] summary')
    summary = next(s for s in summaries if label in s.text)
    # A script click: the chat keeps itself scrolled to the bottom as content grows, so
    # the summary of a long open article sits under the app's header, which takes a real click.
    driver.execute_script("arguments[0].click();", summary)


def test_chat_answers_with_a_visible_citation_card(server, driver, tmp_path, capsys):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 60)
    start = time.perf_counter()
    driver.get(server)
    chat_input = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]')))
    page_ready = time.perf_counter() - start
    chat_input.send_keys(QUESTION)
    chat_input.send_keys(Keys.ENTER)
    card = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, f'.qa-card[data-doc-id="{RUSSIA_DOC}"]')))
    first_answer = time.perf_counter() - start
    with capsys.disabled():
        print(f"\n[browser] chat ready {page_ready:.2f} s after driver.get, first answer visible after {first_answer:.2f} s "
              "(fresh server process, index on disk)")

    answer = driver.find_element(By.CSS_SELECTOR, ".qa-answer").text  # read now: a rerun may replace the node
    assert "[1]" in answer
    assert "Việt Nam - Liên Bang Nga" in card.text
    # The quote is read once, in the answer; the card holds the passage until asked.
    assert not driver.find_elements(By.CSS_SELECTOR, ".qa-passage")
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')

    toggle_first(driver, "Show the passage")
    mark = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '[class*="st-key-card-"] .qa-passage mark')))
    assert mark.text.strip() and mark.text.strip()[:40] in answer, "the passage marks the quoted sentence"

    # The whole article opens in place, the passage marked inside it.
    toggle_first(driver, "Read the whole article")
    article = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".qa-article .qa-in-article mark")))
    assert article.text.strip()
    # Both closed again for the screenshot: the quote once, in the answer.
    toggle_first(driver, "Read the whole article")
    wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, ".qa-article")))
    toggle_first(driver, "Show the passage")
    wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, ".qa-passage")))

    # Taller for the screenshot, so it holds the title, the question, the answer and its card.
    driver.set_window_size(1400, 1300)
    time.sleep(1)  # the closing expander and the resize settle
    shot = tmp_path / "chat.png"
    assert driver.save_screenshot(str(shot))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT)


def test_evaluation_tables_fit_at_1400_px(server, driver, writable_index, tmp_path):
    """The report's tables sit inside the page at the 1400 px window, none wider than
    the main column nor scrolling sideways (a grid wider than its frame scrolls)."""
    import json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from rag.evaluate.questions import evaluate_questions
    from rag.evaluate.report import write_report
    from rag.pipeline import RAG

    rows = [json.loads(line) for line in (ROOT / "eval" / "questions.jsonl").read_text("utf-8").splitlines() if line.strip()]
    subset = [row for row in rows if row["id"] in {"en-russia-2021", "vi-russia-2024", "en-nm-eu-fishing-2023"}]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in subset), "utf-8")
    write_report(evaluate_questions(RAG.open(writable_index, seeds=None), questions), tmp_path / "reports")

    wait = WebDriverWait(driver, 60)
    driver.get(f"{server}/evaluation")
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')) == 3)
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, '[data-testid="stDataFrame"]')))
    time.sleep(1)  # the grids measure their columns after they appear
    main = driver.find_element(By.CSS_SELECTOR, '[data-testid="stMainBlockContainer"]')
    main_right = main.rect["x"] + main.rect["width"]
    for frame in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]'):
        assert frame.rect["x"] + frame.rect["width"] <= main_right + 1, "a table wider than the page"
        scroller = frame.find_element(By.CSS_SELECTOR, ".dvn-scroller")
        overflow = driver.execute_script("return arguments[0].scrollWidth - arguments[0].clientWidth;", scroller)
        assert overflow <= 1, f"a table scrolls sideways by {overflow} px"
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    # Taller for the screenshot, so it holds the retrieval and answer tables whole.
    driver.set_window_size(1400, 1900)
    time.sleep(1)
    shot = tmp_path / "evaluation.png"
    assert driver.save_screenshot(str(shot))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, SCREENSHOT.with_name("evaluation.png"))


TIMELINE_QUESTION = "How did Vietnam–Russia defence cooperation change between 2021 and 2024?"
RUSSIA_2024 = "2fda3e61c4dbe223"


def test_timeline_answer_reads_at_desktop_and_phone_width(server, driver, tmp_path):
    """A change-between-dates question: the dates on the left, each with its cited points
    and cards (2021: the 2021 article, 2024: the 2024 one); at a phone's 390 px the page
    does not scroll sideways and each date sits above its points."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 90)
    driver.get(server)
    chat_input = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]')))
    chat_input.send_keys(TIMELINE_QUESTION)
    chat_input.send_keys(Keys.ENTER)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".qa-tl-date")) == 2)
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, f'.qa-card[data-doc-id="{RUSSIA_2024}"]')))
    dates = driver.find_elements(By.CSS_SELECTOR, ".qa-tl-date")
    assert [d.get_attribute("data-date") for d in dates] == ["2021", "2024"]
    points = driver.find_elements(By.CSS_SELECTOR, ".qa-tl-points")
    assert [p.get_attribute("data-period") for p in points] == ["2021", "2024"]
    cards = driver.find_elements(By.CSS_SELECTOR, ".qa-card")
    # Desktop: the date is left of its points, on the same row (its top within their block).
    # Positions are read in one script: the chat scrolls itself while cards render, and
    # rects read one call apart can come from two scroll positions.
    date, point, first_2024, *card_rects = _rects(driver, [dates[0], points[0], dates[1], *cards])
    assert date["x"] + date["width"] <= point["x"] + 1
    assert point["y"] - 60 <= date["y"] < point["y"] + point["height"]
    # Each period's cards follow its points: 2021's cite the 2021 article, before 2024's date.
    docs = [c.get_attribute("data-doc-id") for c in cards]
    assert {d for d, r in zip(docs, card_rects) if r["y"] < first_2024["y"]} == {RUSSIA_DOC}
    assert {d for d, r in zip(docs, card_rects) if r["y"] > first_2024["y"]} == {RUSSIA_2024}
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')

    driver.set_window_size(1400, 1900)
    time.sleep(1)
    # The chat keeps itself scrolled to the bottom; the shot starts at the question.
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", driver.find_element(By.CSS_SELECTOR, ".qa-question"))
    time.sleep(0.5)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shot = tmp_path / "timeline.png"
    assert driver.save_screenshot(str(shot))
    shutil.copyfile(shot, SCREENSHOT.with_name("timeline.png"))

    driver.set_window_size(390, 1500)
    time.sleep(1.5)  # the columns stack after the resize
    width = driver.execute_script("return window.innerWidth;")
    overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
    assert width <= 420 and overflow <= 1, f"the page scrolls sideways by {overflow} px at {width} px"
    dates = driver.find_elements(By.CSS_SELECTOR, ".qa-tl-date")
    points = driver.find_elements(By.CSS_SELECTOR, ".qa-tl-points")
    date, point, *others = _rects(driver, [dates[0], *points, *driver.find_elements(By.CSS_SELECTOR, ".qa-card")])
    assert date["y"] + date["height"] <= point["y"] + 1, "at phone width the date sits above its points"
    for rect in [point, *others]:
        assert rect["x"] >= 0 and rect["x"] + rect["width"] <= width + 1
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", driver.find_element(By.CSS_SELECTOR, ".qa-question"))
    time.sleep(0.5)
    shot = tmp_path / "timeline-phone.png"
    assert driver.save_screenshot(str(shot))
    shutil.copyfile(shot, SCREENSHOT.with_name("timeline-phone.png"))
