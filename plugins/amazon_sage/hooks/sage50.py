"""Airflow hook for a Sage 50 company over ODBC (connection ``sage50_default``).

It is the ODBC provider's :class:`OdbcHook` with the connection shapes Sage needs (a DSN
such as ``SageLine50v29``, or a driver and a database file for the sample company) and
with errors a seller can act on: a missing company, a locked one, a dropped connection.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.odbc.hooks.odbc import OdbcHook
from airflow.sdk.exceptions import AirflowException

from amazon_sage import settings

LOCKED_MARKERS = ("database is locked", "locked", "busy", "sharing violation")
MISSING_MARKERS = ("connect failed", "unable to open", "data source name not found", "can't open lib",
                   "no such file")


class Sage50Hook(OdbcHook):
    """ODBC hook for Sage 50 whose connections are transactional and whose errors explain themselves."""

    conn_name_attr = "odbc_conn_id"
    default_conn_name = "sage50_default"
    hook_name = "Sage 50 (ODBC)"

    def __init__(self, odbc_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(odbc_conn_id=odbc_conn_id or settings.get("SAGE_CONN_ID"), **kwargs)

    def connect(self) -> Any:
        """A pyodbc connection with autocommit off (one transaction per order)."""
        try:
            connection = self.get_conn()
        except Exception as exc:  # pyodbc.Error and driver-manager errors
            raise self.explain(exc) from None
        connection.autocommit = False
        return connection

    def explain(self, exc: BaseException) -> AirflowException:
        """Turn a driver error into a task error that says what to fix."""
        text = str(exc)
        lowered = text.lower()
        conn_id = self.odbc_conn_id
        if any(marker in lowered for marker in LOCKED_MARKERS):
            return AirflowException(
                f"The Sage company of connection '{conn_id}' is locked by another user or program ({text}). Nothing "
                "was half-written: each order is one transaction. Close Sage on the account the import uses, or "
                "wait for the other job, then clear this task to retry.")
        if any(marker in lowered for marker in MISSING_MARKERS):
            return AirflowException(
                f"Cannot open the Sage company of connection '{conn_id}' ({text}). Check the DSN or database path "
                "and the ODBC driver in Admin > Connections.")
        return AirflowException(f"Sage ODBC error on connection '{conn_id}': {text}")
