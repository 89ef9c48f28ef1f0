"""Print, as one JSON line, what SellingPartnerHook reads from a connection, and one download with it.

    python -m tests.operate.connection_readback CONN_ID LAST_UPDATED_AFTER LAST_UPDATED_BEFORE

Run it in a running Airflow's environment (its AIRFLOW_HOME and metadata database): the scenario
does, to read back a connection that was saved through the UI's form.
"""

from __future__ import annotations

import json
import os
import sys


def main(conn_id: str, after: str, before: str) -> None:
    # Outside a task, Airflow 3 resolves connections from environment variables and external secrets
    # backends only; the processes marked as server-side (scheduler, API server) also search the metadata
    # database, where the UI saved this one. Mark this process so, before Airflow loads its backends.
    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "server"
    from amazon_sage.hooks.selling_partner import SellingPartnerHook

    hook = SellingPartnerHook(conn_id)
    pages = hook.search_orders(last_updated_after=after, last_updated_before=before,
                               fulfillment_statuses=["UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"])
    print(json.dumps({
        "seller_id": hook.seller_id,
        "marketplace_id": hook.marketplace.marketplace_id,
        "endpoint": hook.marketplace.endpoint,
        "lwa_endpoint": hook.extras.get("lwa_endpoint"),
        "credentials": hook._credentials(),
        "orders": [order["orderId"] for page in pages for order in page["orders"]],
    }))


if __name__ == "__main__":
    main(*sys.argv[1:4])
