"""The explorer's page in a real headless browser: Debian's chromium and chromium-driver
(installed with apt-get by the test setup where missing; never a browser that downloads
itself), driven by selenium against `factroots serve`'s app on a local port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time

import pytest

from factroots.search.trace import trace_languages
from tests.conftest import cannot_set_up

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def debian_chromium() -> None:
    """chromium and chromium-driver from Debian's archive, installed if missing."""
    if shutil.which("chromium") and shutil.which("chromedriver"):
        return
    if shutil.which("apt-get") is None:
        cannot_set_up("chromium is not installed and there is no apt-get to install it")
    done = subprocess.run(
        [
            "apt-get",
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or not shutil.which("chromedriver"):
        cannot_set_up(f"apt-get could not install chromium: {done.stderr.strip()[-300:]}")


@pytest.fixture(scope="module")
def browser():
    pytest.importorskip("selenium")
    debian_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        service=Service(shutil.which("chromedriver") or DRIVER), options=options
    )
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def served(sample_indexes, mlama_dir, tmp_path_factory):
    """`factroots serve`'s app on a free local port with the en index and its words trace."""
    pytest.importorskip("uvicorn")
    import uvicorn

    from factroots.serve.app import create_app
    from factroots.serve.explorer import Explorer

    root = sample_indexes.root_with("en")
    trace = trace_languages(mlama_dir, root, ["en"], "words", sample_indexes.tokenizer).facts
    path = tmp_path_factory.mktemp("browser") / "trace.parquet"
    trace.to_parquet(path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(Explorer(root, "mbert", [path])), port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", trace
    server.should_exit = True
    thread.join(10)


def test_the_page_shows_a_present_fact_with_its_evidence_marked(browser, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, trace = served
    fact = trace[trace["present"].fillna(False).astype(bool)].iloc[0]
    browser.get(f"{url}/#{fact['uuid']}")
    marks = WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#fact .evidence mark")
    )
    texts = {m.text for m in marks}
    assert fact["subject"] in texts and fact["object"] in texts
    assert "words: present" in browser.find_element(By.ID, "fact").text


def test_the_page_lists_facts_found_by_a_search(browser, served):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, trace = served
    subject = trace.iloc[0]["subject"]
    browser.get(url)
    wait = WebDriverWait(browser, 20, ignored_exceptions=(StaleElementReferenceException,))
    wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results p"))  # the first listing
    browser.find_element(By.ID, "q").send_keys(subject)
    browser.find_element(By.CSS_SELECTOR, "#search button").click()
    rows = wait.until(
        lambda b: [r for r in b.find_elements(By.CSS_SELECTOR, "#results tr") if subject in r.text]
    )
    assert rows


def test_the_api_reference_renders_from_the_apps_own_files(browser, served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = served
    browser.get(f"{url}/docs")
    title = WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title")
    )
    assert "factroots explorer" in title[0].text
    operations = browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    assert "/api/cooccur" in {o.get_attribute("data-path") for o in operations}
