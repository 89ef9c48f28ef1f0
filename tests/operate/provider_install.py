"""Install the project as the Airflow provider it is, into a folder, the way pip installs it anywhere.

The tests and the running-Airflow scenario must not change the virtualenv they run in, so they
install the project with ``pip install --target FOLDER`` and put FOLDER on ``PYTHONPATH``:
Airflow then finds the provider through its ``apache_airflow_provider`` entry point exactly as
after ``pip install .``. The build runs offline with the virtualenv's own setuptools
(``--no-build-isolation``; requirements-dev.txt pins it) from a copy of the sources, so that
setuptools' ``build/`` and ``*.egg-info`` land in the copy, not in the project.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
# What `pip install .` reads: the build configuration and the one package it ships.
SOURCES = ("pyproject.toml", "plugins/amazon_sage")


def install_provider(target: Path, project: Path = PROJECT) -> Path:
    """pip-install ``project`` (without its dependencies, which the running venv has) into ``target``.

    Returns ``target``; raises ``RuntimeError`` with pip's output when the install fails.
    """
    source = target.parent / f"{target.name}-source"
    shutil.rmtree(source, ignore_errors=True)
    for relative in SOURCES:
        origin, copy = project / relative, source / relative
        if origin.is_dir():
            shutil.copytree(origin, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, copy)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
                          capture_output=True, text=True)
    shutil.rmtree(source, ignore_errors=True)
    if done.returncode:
        raise RuntimeError(f"pip install of the provider failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return target
