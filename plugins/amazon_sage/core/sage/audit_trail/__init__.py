"""Posting to a plain Sage 50 through its audit-trail transaction import (File > Import), not over ODBC.

Sage 50's own ODBC driver only reads. This route writes the transactions as a CSV file that the
bookkeeper imports with Sage's Data Import wizard, and reads Sage's ``AUDIT_HEADER`` over that
read-only ODBC to post every order exactly once:

* :mod:`.csv_format`: the file's columns, their rules (Sage's import documentation) and encoding;
* :mod:`.invoice_lines`: one sales invoice (SI) per order, its lines grouped per nominal and tax code;
* :mod:`.sage_reads`: the read-only SQL (nominal codes, invoices Sage already holds);
* :mod:`.export_ledger`: the product's own record of what it exported and what Sage has imported;
* :mod:`.export`: the phase itself.
"""
