"""Headless Chromium (Debian's chromium and chromium-driver) logged in to a running Airflow's UI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def logged_in_chromium(api: str, token: str, window: str = "1600,1000") -> Iterator[Any]:
    """A Selenium Chrome driver whose ``_token`` cookie is Airflow's JWT for ``api``; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={window}"):
        options.add_argument(argument)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                              options=options)
    try:
        # The UI reads the token from this cookie; a cookie can only be set on a page of its site.
        driver.get(f"{api}/api/v2/monitor/health")
        driver.add_cookie({"name": "_token", "value": token, "path": "/"})
        yield driver
    finally:
        driver.quit()
