"""The Admin > Connections form of connection type ``amazon_sp_api``, as plain data.

Airflow 3.2+ builds connection forms from the provider info (``get_provider_info()``), not
from the hook: ``conn-fields`` become the extra fields and ``ui-field-behaviour`` hides and
relabels the standard ones. It reads them without importing the hook (or Airflow), so this
module imports nothing.

Contract with ``SellingPartnerHook``: every key of ``EXTRA_FIELDS`` is a key the hook reads
from the connection's extra JSON. Airflow 3's UI stores each extra field under its own name,
unprefixed (``{"seller_id": ...}``), which is what the hook reads.
"""

from __future__ import annotations

import copy
from typing import Any

CONNECTION_TYPE = "amazon_sp_api"
HOOK_NAME = "Amazon Selling Partner API"
HOOK_CLASS_NAME = "amazon_sage.hooks.selling_partner.SellingPartnerHook"

# A country code, or several of one region separated by commas.
MARKETPLACE_PATTERN = r"^\s*[A-Za-z]{2}\s*(,\s*[A-Za-z]{2}\s*)*$"

# Required fields are typed "string" (the form refuses to save them empty); optional ones also
# allow null. A password format masks the value in the form and in the connection list.
EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    "refresh_token": {
        "label": "Refresh token",
        "description": "The LWA refresh token (Atzr|…) from authorising the app for this seller in Seller Central.",
        "schema": {"type": "string", "format": "password", "minLength": 1},
    },
    "seller_id": {
        "label": "Seller id (Merchant ID)",
        "description": "Seller Central > Settings > Account Info > Merchant Token (Zynk's Merchant ID).",
        "schema": {"type": "string", "minLength": 1},
    },
    "marketplace": {
        "label": "Marketplace",
        "description": "Country code of the marketplace, e.g. UK (GB is read as UK), or several of one region "
                       "separated by commas, e.g. UK,DE,FR: orders are downloaded from all of them in one search; "
                       "feeds go to the first.",
        "schema": {"type": "string", "default": "UK", "pattern": MARKETPLACE_PATTERN},
    },
    "endpoint": {
        "label": "SP-API endpoint (optional)",
        "description": "Only to override the marketplace's Amazon endpoint, e.g. the local sandbox's URL. "
                       "Leave empty for Amazon.",
        "schema": {"type": ["string", "null"]},
    },
    "lwa_endpoint": {
        "label": "LWA endpoint (optional)",
        "description": "Only to override Login with Amazon (https://api.amazon.com), e.g. the local sandbox's URL. "
                       "Leave empty for Amazon.",
        "schema": {"type": ["string", "null"]},
    },
}

# In provider-info spelling (kebab-case keys).
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port"],
    "relabeling": {"login": "LWA client id", "password": "LWA client secret"},
    "placeholders": {"login": "amzn1.application-oa2-client.…"},
}


def connection_type_info() -> dict[str, Any]:
    """The ``connection-types`` entry of the provider info for ``amazon_sp_api`` (a fresh copy each call)."""
    return copy.deepcopy({
        "connection-type": CONNECTION_TYPE,
        "hook-class-name": HOOK_CLASS_NAME,
        "hook-name": HOOK_NAME,
        "conn-fields": EXTRA_FIELDS,
        "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
    })
