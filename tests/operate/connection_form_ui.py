"""Add an ``amazon_sp_api`` connection through Airflow 3's UI form, as a seller would, and read it back.

``add_connection_in_the_form`` drives Admin > Connections > Add Connection in a logged-in browser
and reports what the form showed; ``read_through_the_hook`` runs ``connection_readback`` in the
running Airflow's environment, so the saved connection is read from the metadata database by
``SellingPartnerHook`` itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amazon_sage.connection_form import HOOK_NAME

TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class FormSeen:
    """What the form showed: the text of each section, the names of its inputs, the screenshots."""

    standard_text: str
    extra_text: str
    input_names: frozenset[str]
    screenshots: tuple[Path, ...]


def _button(driver: Any, text: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def find(_: Any) -> Any:
        return next((b for b in driver.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == text), False)

    return WebDriverWait(driver, TIMEOUT_SECONDS).until(find, f"no button {text!r}")


def _visible(driver: Any, name: str) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, TIMEOUT_SECONDS).until(
        expected_conditions.visibility_of_element_located((By.NAME, name)), f"no visible input {name!r}")


def _type(driver: Any, name: str, value: str) -> None:
    from selenium.webdriver.common.keys import Keys

    field = _visible(driver, name)
    field.send_keys(Keys.CONTROL, "a")  # replaces a default, such as the marketplace's UK
    field.send_keys(Keys.DELETE)
    field.send_keys(value)


def add_connection_in_the_form(driver: Any, api: str, conn_id: str, login: str, password: str,
                               extra: dict[str, str], folder: Path) -> FormSeen:
    """Fill the Add Connection form for type "Amazon Selling Partner API" and save it.

    ``extra`` maps the form's extra fields (the keys of ``EXTRA_FIELDS``) to what to type.
    Screenshots of both sections, filled in, go to ``folder``. Raises if the form or a field
    does not appear, or if the saved connection is not listed afterwards.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    folder.mkdir(parents=True, exist_ok=True)
    driver.set_window_size(1600, 1500)  # the whole dialog, extra fields included
    driver.get(f"{api}/connections")
    _button(driver, "Add Connection").click()
    _type(driver, "connection_id", conn_id)
    kind = driver.find_element(By.CSS_SELECTOR, "[role=dialog] input[role=combobox]")
    kind.click()
    kind.send_keys(HOOK_NAME)
    WebDriverWait(driver, TIMEOUT_SECONDS).until(
        lambda _: next((o for o in driver.find_elements(By.CSS_SELECTOR, "[role=option]") if o.text == HOOK_NAME),
                       False), f"no connection type {HOOK_NAME!r} to choose").click()

    dialog = driver.find_element(By.CSS_SELECTOR, "[role=dialog]")

    def input_names() -> set[str]:
        return {e.get_attribute("name") for e in dialog.find_elements(By.CSS_SELECTOR, "input, textarea")
                if e.get_attribute("name")}

    # The sections are an accordion (opening one closes the other). Extra fields first, so that the
    # screenshot of the standard fields, taken last, shows a complete form ready to save.
    _button(driver, "Extra Fields").click()
    for key, value in extra.items():
        _type(driver, f"element_{key}", value)  # Airflow's form names each extra field's input element_<key>
    extra_text, names = dialog.text, input_names()
    extra_shot = folder / "connection_form_extra_fields.png"
    driver.save_screenshot(str(extra_shot))

    _button(driver, "Standard Fields").click()
    _type(driver, "login", login)
    _type(driver, "password", password)
    standard_text, names = dialog.text, names | input_names()
    standard_shot = folder / "connection_form_standard_fields.png"
    driver.save_screenshot(str(standard_shot))

    _button(driver, "Save").click()
    WebDriverWait(driver, TIMEOUT_SECONDS).until(
        lambda _: not driver.find_elements(By.CSS_SELECTOR, "[role=dialog]") and conn_id in driver.page_source,
        f"the form did not save {conn_id}")
    return FormSeen(standard_text, extra_text, frozenset(names), (standard_shot, extra_shot))


def read_through_the_hook(env: dict[str, str], conn_id: str, after: str, before: str) -> dict[str, Any]:
    """What ``SellingPartnerHook(conn_id)`` reads, and the order ids one ``searchOrders`` over it returns."""
    done = subprocess.run([sys.executable, "-m", "tests.operate.connection_readback", conn_id, after, before],
                          env=env, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(f"reading {conn_id} through the hook failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
