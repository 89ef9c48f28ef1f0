"""Failure notices by email or webhook, and a rate limit for notices about failed records.

Notices carry DAG, run, task, counts and error text: ids and messages, never buyer names,
addresses or credentials. Sending is best effort: a notice that cannot be sent is logged
and never fails the run it reports on.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx

from amazon_sage.core.files import atomic_output, private_dir


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    login: str | None
    password: str | None
    sender: str
    use_ssl: bool = False
    starttls: bool = False


def send_email(smtp: SmtpSettings, recipients: list[str], subject: str, body: str, timeout: float = 30) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = smtp.sender, ", ".join(recipients), subject
    message.set_content(body)
    connect = smtplib.SMTP_SSL if smtp.use_ssl else smtplib.SMTP
    with connect(smtp.host, smtp.port, timeout=timeout) as client:
        if smtp.starttls:
            client.starttls(context=ssl.create_default_context())
        if smtp.login:
            client.login(smtp.login, smtp.password or "")
        client.send_message(message)


def send_webhook(url: str, payload: dict[str, Any], timeout: float = 30) -> None:
    response = httpx.post(url, json=payload, timeout=timeout)
    response.raise_for_status()


def render(payload: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of a notice."""
    subject = f"[Amazon-Sage] {payload['event']}: {payload['dag_id']}"
    lines = [f"{key}: {value}" for key, value in payload.items() if key not in {"records"}]
    for record in payload.get("records", []):
        lines.append(f"  - {record}")
    return subject, "\n".join(lines) + "\n"


class NoticeRateLimit:
    """At most one notice per key in ``every_seconds``, remembered in a small JSON file."""

    def __init__(self, state_file: Path, every_seconds: float, clock: Any = time.time):
        self.state_file, self.every_seconds, self.clock = state_file, every_seconds, clock

    def allow(self, key: str) -> bool:
        state = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        now = self.clock()
        if key in state and now - state[key] < self.every_seconds:
            return False
        state[key] = now
        private_dir(self.state_file.parent)
        with atomic_output(self.state_file) as tmp:
            tmp.write_text(json.dumps(state))
        return True
