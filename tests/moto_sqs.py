"""moto's server on a free loopback port, with an SQS queue for ORDER_CHANGE notifications."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

REGION = "eu-west-2"
ACCOUNT = "123456789012"  # moto's account
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": REGION}
# Amazon's set-up guide: only Amazon's notifications account may send to the queue.
AMAZON_ONLY_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "AmazonNotificationsSend", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::437568002678:root"},
    "Action": ["sqs:SendMessage", "sqs:GetQueueAttributes"], "Resource": "*"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Queue:
    endpoint: str
    url: str
    arn: str

    def client(self) -> Any:
        return boto3.client("sqs", endpoint_url=self.endpoint, **CREDENTIALS)

    def aws_connection(self) -> str:
        """An Airflow AWS connection (JSON) that reaches this moto server."""
        return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                           "extra": {"endpoint_url": self.endpoint, "region_name": REGION}})

    def waiting(self) -> int:
        attributes = self.client().get_queue_attributes(
            QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        return sum(int(value) for value in attributes["Attributes"].values())


@contextmanager
def moto_sqs(name: str = "amazon-order-events") -> Iterator[Queue]:
    """A moto server with one queue (Amazon-only send policy); moto's process-wide state reset before and after."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset)
    try:
        client = boto3.client("sqs", endpoint_url=endpoint, **CREDENTIALS)
        url = client.create_queue(QueueName=name, Attributes={"Policy": json.dumps(AMAZON_ONLY_POLICY)})["QueueUrl"]
        yield Queue(endpoint, url, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
    finally:
        urllib.request.urlopen(reset)
        server.stop()


def events_airflow_env(home: Any, port: int, queue: Queue, sandbox_url: str, company: Any,
                       refresh_token: str) -> dict[str, str]:
    """A LocalExecutor Airflow on ``port`` (login admin/admin) whose event DAG watches ``queue``.

    Writes ``home/passwords.json``; the caller adds its own tuning.
    """
    from pathlib import Path

    from sandbox.airflow_env import sp_api_connection

    Path(home, "passwords.json").write_text(json.dumps({"admin": "admin"}))
    return {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(Path(home, "passwords.json")),
        "AIRFLOW__API_AUTH__JWT_SECRET": "order-events-secret",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW_CONN_AMAZON_SP_API_DEFAULT": sp_api_connection(sandbox_url, refresh_token),
        "AIRFLOW_CONN_AWS_DEFAULT": queue.aws_connection(),
        "AMAZON_SAGE_ORDER_EVENTS_QUEUE_URL": queue.url,
        "AMAZON_SAGE_ORDER_EVENTS_QUEUE_ARN": queue.arn,
        "AMAZON_SAGE_ORDERS_SCHEDULE": "0 0 * * *",
        "AIRFLOW_CONN_SAGE50_DEFAULT": json.dumps({"conn_type": "odbc", "schema": str(company), "extra": {
            "driver": "SQLite3", "NoCreat": "1", "Timeout": "2000"}}),
    }
