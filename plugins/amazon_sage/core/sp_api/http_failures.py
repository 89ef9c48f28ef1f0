"""Which httpx failures mean "nothing was sent" and which mean "the answer was lost".

The difference decides whether a call that must not be repeated blindly (createFeed) may be
retried: a connection that was never made carried no request; a timeout or a connection
dropped after the request went out may hide a call Amazon acted on.
"""

from __future__ import annotations

import httpx

from amazon_sage.core.sp_api.rate_limited_calls import SpApiUnavailable, SpApiUnreachable

# The connection was never made, so the request never left this machine.
NOT_CONNECTED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol)


def origin_of(exc: httpx.TransportError) -> str:
    """``scheme://host[:port]`` of the request that failed, or ``"?"`` when httpx did not attach it."""
    try:
        url = exc.request.url
    except RuntimeError:  # raised by httpx when the error carries no request
        return "?"
    return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")


def transport_failure(exc: httpx.TransportError) -> SpApiUnavailable:
    """The retry loop's view of an httpx failure: :class:`SpApiUnreachable` if nothing was sent."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NOT_CONNECTED):
        return SpApiUnreachable(origin_of(exc), detail)
    return SpApiUnavailable(detail)
