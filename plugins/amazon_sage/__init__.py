"""Amazon SP-API ⇄ Sage 50 for Apache Airflow, packaged as an Airflow provider.

Airflow finds the provider through the ``apache_airflow_provider`` entry point, which names
``get_provider_info``. Importing this package stays cheap: nothing here imports Airflow, so
Airflow can read the provider info (and the connection form in it) without loading hooks.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "amazon-sage-airflow-provider"


def get_provider_info() -> dict[str, Any]:
    """The provider info Airflow's ProvidersManager reads (valid against ``airflow/provider_info.schema.json``).

    ``package-name`` must equal the installed distribution's name, or Airflow refuses the provider.
    """
    from amazon_sage.connection_form import connection_type_info

    return {
        "package-name": PACKAGE_NAME,
        "name": "Amazon Sage",
        "description": "Amazon Selling Partner API ⇄ Sage 50: orders into Sage, stock levels and prices to Amazon "
                       "(a replacement for Zynk Workflow's Amazon to Sage integration).",
        "versions": [__version__],
        "integrations": [{"integration-name": "Amazon Selling Partner API", "tags": ["service"],
                          "external-doc-url": "https://developer-docs.amazon.com/sp-api/"}],
        "hooks": [{"integration-name": "Amazon Selling Partner API",
                   "python-modules": ["amazon_sage.hooks.selling_partner"]}],
        "connection-types": [connection_type_info()],
    }
