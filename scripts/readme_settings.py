"""Rewrite the README's settings table from plugins/amazon_sage/settings.py (run after adding a setting)."""

import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "plugins"))

from amazon_sage.settings import markdown_table  # noqa: E402

START, END = "<!-- settings:start (python -m amazon_sage.settings) -->\n", "<!-- settings:end -->"
readme = PROJECT / "README.md"
text = readme.read_text()
head, rest = text.split(START)
readme.write_text(head + START + markdown_table() + "\n" + END + rest.split(END, 1)[1])
