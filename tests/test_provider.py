"""The project as an Airflow provider: its provider info, its connection form, and a real pip install."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema
import pytest
from airflow.sdk.exceptions import AirflowException

import amazon_sage
from amazon_sage.connection_form import EXTRA_FIELDS, MARKETPLACE_PATTERN, UI_FIELD_BEHAVIOUR
from amazon_sage.hooks.selling_partner import SellingPartnerHook
from tests.operate.provider_install import install_provider

PROJECT = Path(__file__).resolve().parents[1]
AIRFLOW_PACKAGE = Path(airflow.__file__).parent
UK_MARKETPLACE_ID = "A1F83G8C2ARO7P"


def _schema(name: str) -> dict:
    return json.loads((AIRFLOW_PACKAGE / name).read_text())


def test_provider_info_is_valid_for_the_installed_airflow() -> None:
    """ProvidersManager validates against provider_info.schema.json; the stricter provider.yaml schema
    is what Airflow's own providers are checked with, and the only one that describes conn-fields."""
    info = amazon_sage.get_provider_info()
    runtime = jsonschema.Draft7Validator(_schema("provider_info.schema.json"))
    runtime.validate(info)
    strict = _schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.Draft7Validator(strict).validate(info["connection-types"])
    assert info["package-name"] == "amazon-sage-airflow-provider" and info["versions"] == [amazon_sage.__version__]
    [connection_type] = info["connection-types"]
    assert connection_type["connection-type"] == SellingPartnerHook.conn_type
    assert connection_type["hook-name"] == SellingPartnerHook.hook_name
    module, _, name = connection_type["hook-class-name"].rpartition(".")
    assert getattr(sys.modules[module], name) is SellingPartnerHook

    broken = copy.deepcopy(info)
    broken["connection-types"][0]["conn-fields"]["seller_id"].pop("label")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(strict).validate(broken["connection-types"])
    with pytest.raises(jsonschema.ValidationError):
        runtime.validate({"name": "no description"})


def test_importing_the_package_and_reading_its_provider_info_import_no_airflow() -> None:
    code = ("import sys, amazon_sage; amazon_sage.get_provider_info(); "
            "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(PROJECT / "plugins")})
    assert done.stdout.strip() == "[]"


def test_the_form_hides_host_schema_port_and_names_the_lwa_credentials() -> None:
    assert sorted(UI_FIELD_BEHAVIOUR["hidden-fields"]) == ["host", "port", "schema"]
    assert UI_FIELD_BEHAVIOUR["relabeling"] == {"login": "LWA client id", "password": "LWA client secret"}
    required = {key for key, field in EXTRA_FIELDS.items() if field["schema"]["type"] == "string"}
    assert required == {"refresh_token", "seller_id", "marketplace"}
    assert EXTRA_FIELDS["refresh_token"]["schema"]["format"] == "password"


@pytest.mark.parametrize(("value", "accepted"), [
    ("UK", True), ("uk", True), ("UK,DE", True), (" UK , DE,FR ", True),
    ("", False), ("United Kingdom", False), ("UK;DE", False), ("UK,", False), ("GBR", False)])
def test_marketplace_field_takes_country_codes(value: str, accepted: bool) -> None:
    assert bool(re.fullmatch(MARKETPLACE_PATTERN, value)) is accepted


def _stored_by_the_form(monkeypatch: pytest.MonkeyPatch, conn_id: str, extra: dict) -> SellingPartnerHook:
    """A connection exactly as Airflow 3's form saves one: extra fields under their own names, blanks as null."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({
        "conn_type": "amazon_sp_api", "login": "amzn1.application-oa2-client.form", "password": "form-secret",
        "extra": extra}))
    return SellingPartnerHook(conn_id)


def test_the_hook_reads_every_field_the_form_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {"refresh_token": "Atzr|form", "seller_id": "A2FORMSELLER", "marketplace": "uk",
             "endpoint": "http://127.0.0.1:8765", "lwa_endpoint": "http://127.0.0.1:8766"}
    assert set(extra) == set(EXTRA_FIELDS), "a form field the hook does not read (or the reverse)"
    hook = _stored_by_the_form(monkeypatch, "amazon_sp_api_form", extra)
    assert hook.seller_id == "A2FORMSELLER"
    assert (hook.marketplace.marketplace_id, hook.marketplace.endpoint) == (UK_MARKETPLACE_ID, "http://127.0.0.1:8765")
    assert hook._credentials() == {"refresh_token": "Atzr|form", "lwa_app_id": "amzn1.application-oa2-client.form",
                                   "lwa_client_secret": "form-secret"}
    lwa = hook._access_token_client_class()
    assert (lwa.scheme, lwa.host) == ("http://", "127.0.0.1:8766")


AMAZON_LWA = "https://api.amazon.com/auth/o2/token"


def test_blank_optional_fields_mean_amazon(monkeypatch: pytest.MonkeyPatch) -> None:
    from sp_api.auth import AccessTokenClient
    from sp_api.base import Marketplaces

    hook = _stored_by_the_form(monkeypatch, "amazon_sp_api_blank", {
        "refresh_token": "Atzr|form", "seller_id": "A2FORMSELLER", "marketplace": "UK", "endpoint": None,
        "lwa_endpoint": None})
    assert hook.marketplace.endpoint == Marketplaces.UK.endpoint
    # The hook's own LWA client (it tells an outage from refused credentials), on Amazon's host.
    lwa = hook._access_token_client_class()
    assert issubclass(lwa, AccessTokenClient) and lwa.scheme + lwa.host + lwa.path == AMAZON_LWA


def test_a_list_of_marketplaces_serves_one_region_from_its_first(monkeypatch: pytest.MonkeyPatch) -> None:
    from sp_api.base import Marketplaces

    hook = _stored_by_the_form(monkeypatch, "amazon_sp_api_list", {
        "refresh_token": "Atzr|form", "seller_id": "A2FORMSELLER", "marketplace": "UK, DE,fr,DE"})
    assert [m.code for m in hook.marketplaces] == ["UK", "DE", "FR"]
    assert hook.marketplace.marketplace_id == Marketplaces.UK.marketplace_id
    assert hook.marketplace.endpoint == Marketplaces.DE.endpoint  # one endpoint for the region
    mixed = _stored_by_the_form(monkeypatch, "amazon_sp_api_mixed", {
        "refresh_token": "Atzr|form", "seller_id": "A2FORMSELLER", "marketplace": "UK,US"})
    with pytest.raises(AirflowException, match=r"amazon_sp_api_mixed.*UK \(Europe\), US \(North America\).*"
                                               r"connection per region"):
        mixed.marketplaces  # noqa: B018 (the property is the call under test)
    unknown = _stored_by_the_form(monkeypatch, "amazon_sp_api_unknown", {
        "refresh_token": "Atzr|form", "seller_id": "A2FORMSELLER", "marketplace": "UK,XX"})
    with pytest.raises(AirflowException, match=r"unknown marketplace 'XX'"):
        unknown.marketplace  # noqa: B018


def test_pip_install_gives_a_provider_that_airflow_lists_with_its_form(tmp_path: Path) -> None:
    """pip installs the package with its data and entry point; Airflow, with nothing else on its path,
    lists the provider and serves the connection form's metadata from it."""
    target = install_provider(tmp_path / "site")
    schemas = target / "amazon_sage" / "core" / "feeds" / "amazon_schemas"
    assert sorted(p.name for p in schemas.iterdir()) == sorted(
        p.name for p in (PROJECT / "plugins/amazon_sage/core/feeds/amazon_schemas").iterdir())
    [entry_points] = target.glob("amazon_sage_airflow_provider-*.dist-info/entry_points.txt")
    assert "[apache_airflow_provider]\nprovider_info = amazon_sage:get_provider_info" in entry_points.read_text()

    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "AIRFLOW_HOME": str(tmp_path / "home"),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(empty), "AIRFLOW__CORE__DAGS_FOLDER": str(empty)}
    listed = subprocess.run([str(Path(sys.executable).with_name("airflow")), "providers", "list", "-o", "json"],
                            capture_output=True, text=True, env=env, cwd=empty)
    assert listed.returncode == 0, listed.stderr[-3000:]
    providers = {p["package_name"]: p["version"] for p in json.loads(listed.stdout)}
    assert providers.get("amazon-sage-airflow-provider") == amazon_sage.__version__

    code = """if True:
        import json, amazon_sage
        from amazon_sage.core.feeds.feed_documents import SCHEMA
        from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
        [meta] = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "amazon_sp_api"]
        print(json.dumps({"package": amazon_sage.__file__, "schema_title": json.loads(SCHEMA.read_text())["title"],
                          "meta": meta.model_dump()}))"""
    served = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=empty)
    assert served.returncode == 0, served.stderr[-3000:]
    answer = json.loads(served.stdout.splitlines()[-1])
    assert answer["package"].startswith(str(target)), "the test must exercise the installed copy"
    assert answer["schema_title"]
    meta = answer["meta"]
    assert meta["hook_name"] == "Amazon Selling Partner API"
    assert meta["hook_class_name"] == "amazon_sage.hooks.selling_partner.SellingPartnerHook"
    standard = meta["standard_fields"]
    assert all(standard[name]["hidden"] for name in ("host", "port", "url_schema"))
    assert (standard["login"]["title"], standard["password"]["title"]) == ("LWA client id", "LWA client secret")
    assert {key: field["schema"]["title"] for key, field in meta["extra_fields"].items()} == {
        key: field["label"] for key, field in EXTRA_FIELDS.items()}


def test_the_pinned_runtime_satisfies_the_providers_dependencies() -> None:
    """pyproject's ranges and requirements.txt's pins describe the same packages, and the pins lie in the ranges."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (PROJECT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            pins[canonicalize_name(requirement.name)] = next(iter(requirement.specifier)).version
    dependencies = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dependency in map(Requirement, dependencies):
        name = canonicalize_name(dependency.name)
        assert name in pins, f"{dependency.name} is a dependency of the provider but not pinned in requirements.txt"
        assert dependency.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {dependency}"
