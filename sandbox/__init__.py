"""The embedded default: a local SP-API sandbox, the sample Sage company and the demo runner.

Nothing in the product imports this package; it stands in for Amazon and Sage on a developer's
machine, in the tests and in the README's first command.
"""

from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
