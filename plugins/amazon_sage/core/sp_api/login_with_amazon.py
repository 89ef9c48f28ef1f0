"""Login with Amazon (LWA) token requests that tell an outage from refused credentials.

python-amazon-sp-api's own token client reads every non-200 JSON answer as refused credentials
and fails on a non-JSON one with a bare ``JSONDecodeError``, so an LWA outage would tell the
seller to re-authorise the app. The client built here sorts the answers instead:

* 200 with an access token: the token;
* 5xx, 429, an unreadable answer, a timeout, a dropped or refused connection:
  :class:`~amazon_sage.core.sp_api.rate_limited_calls.LoginUnavailable`, which the SP-API
  retry loop retries with the same bounded back-off as an SP-API call;
* a 4xx with an OAuth ``error``: :class:`LoginRefused`, not retried. Only ``invalid_grant``
  (refresh token) and ``invalid_client`` (client id or secret) mean the credentials need fixing.

Answers are never logged: they carry tokens.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from amazon_sage.core.sp_api.rate_limited_calls import LoginUnavailable

# The OAuth errors that mean the connection's credentials are wrong, and which part of them.
CREDENTIAL_ERRORS = {"invalid_grant": "refresh token", "invalid_client": "client id or client secret"}


class LoginRefused(Exception):
    """LWA refused the token request (a 4xx with an OAuth ``error``); asking again will not help."""

    def __init__(self, error_code: str, description: str, status: int):
        super().__init__(f"{error_code}: {description} (HTTP {status})")
        self.error_code, self.description, self.status = error_code, description, status

    @property
    def credentials_invalid(self) -> bool:
        """True when the connection's credentials themselves were refused."""
        return self.error_code in CREDENTIAL_ERRORS


def read_token_answer(url: str, response: httpx.Response) -> dict[str, Any]:
    """The token answer of ``response``, or :class:`LoginUnavailable` / :class:`LoginRefused`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    if status == 200:
        if isinstance(body, dict) and body.get("access_token"):
            return body
        raise LoginUnavailable(url, "HTTP 200 without an access token")
    if status == 429 or status >= 500 or not isinstance(body, dict) or not body.get("error"):
        readable = "" if isinstance(body, dict) else ", not JSON"
        raise LoginUnavailable(url, f"HTTP {status}{readable} from Login with Amazon")
    raise LoginRefused(str(body["error"]), str(body.get("error_description") or ""), status)


def access_token_client_class(lwa_endpoint: str | None, timeout: float) -> type:
    """A subclass of the library's ``AccessTokenClient`` that sorts LWA's answers as above.

    ``lwa_endpoint`` (scheme and host, e.g. the sandbox's URL) replaces ``https://api.amazon.com``.
    """
    from sp_api.auth import AccessTokenClient
    from sp_api.base._transport_httpx import HttpxTransport

    class SortingAccessTokenClient(AccessTokenClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # The library's transport has httpx's 5 s default; LWA gets the same patience as SP-API calls.
            self._transport = HttpxTransport(timeout=timeout, proxies=self.proxies, verify=self.verify)

        def _request(self, url: str, data: Any, headers: Any) -> dict[str, Any]:
            try:
                response = self._transport.request("POST", url, data=data, headers=headers)
            except httpx.TransportError as exc:
                raise LoginUnavailable(url, f"{type(exc).__name__}: {exc}") from exc
            return read_token_answer(url, response)

    if lwa_endpoint:
        parts = urlsplit(lwa_endpoint)
        SortingAccessTokenClient.scheme = f"{parts.scheme}://"
        SortingAccessTokenClient.host = parts.netloc
    return SortingAccessTokenClient
