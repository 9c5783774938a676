"""Who may talk to `physlora serve`, and what every response tells the browser.

A page on any web site can make the visitor's browser send requests to 127.0.0.1. Two defences stop it from
using the local page: the Host check (DNS rebinding: evil.example resolving to 127.0.0.1 still sends
`Host: evil.example:8000`, which is refused; starlette's TrustedHostMiddleware does the check) and the Origin
check on state-changing requests (a cross-site POST carries the other site's Origin, which is refused).
Bound to another address (--host), every API call must also carry the token given with --token.

Every response gets a Content-Security-Policy (only the page's own inline script and style, by hash; only
same-origin requests; no framing), nosniff, no referrer. Request bodies are capped (MAX_BODY_BYTES).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import secrets
import socket
from dataclasses import dataclass, field

MAX_BODY_BYTES = 64 * 1024  # a question is at most 2000 characters; 64 KiB holds it even \\u-escaped
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    """Whether an address (as bound: an IP) only this machine can reach."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _host_names(bound: str) -> tuple[str, ...]:
    """Host header names a browser uses for this bind address (the port is checked by the Origin rule)."""
    bound = bound.strip("[]")
    if is_loopback(bound):
        return LOOPBACK_NAMES
    names = {socket.gethostname().lower(), socket.getfqdn().lower(), *LOOPBACK_NAMES}
    if bound in ("0.0.0.0", "::"):  # every address of this machine
        try:
            names |= {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)}
        except socket.gaierror:
            pass
    else:
        names.add(bound)
    return tuple(sorted(f"[{n}]" if ":" in n and not n.startswith("[") else n for n in names))


@dataclass(frozen=True)
class Access:
    """What a request must match: one of `hosts` in Host, the page's own origin in Origin, the token."""

    hosts: tuple[str, ...]
    port: int
    token: str | None = None
    origins: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        origins = {f"http://{h}:{self.port}" for h in self.hosts}
        if self.port == 80:
            origins |= {f"http://{h}" for h in self.hosts}
        object.__setattr__(self, "origins", frozenset(origins))

    @classmethod
    def for_bind(cls, bound_host: str, port: int, token: str | None = None) -> "Access":
        return cls(hosts=_host_names(bound_host), port=port, token=token)

    def token_ok(self, authorization: str | None) -> bool:
        if self.token is None:
            return True
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), self.token.encode())


def inline_hashes(page: str, tag: str) -> list[str]:
    """CSP source expressions ('sha256-...') of every inline <tag>...</tag> block of the page."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks]


def page_csp(page: str) -> str:
    return (f"default-src 'none'; script-src {' '.join(inline_hashes(page, 'script'))}; "
            f"style-src {' '.join(inline_hashes(page, 'style'))}; img-src data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _security_headers(csp: str) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in (
        ("content-security-policy", csp),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
        ("cache-control", "no-store"),
    )]


class Guard:
    """ASGI middleware: security headers on every response; Origin, token and body-size checks on requests.
    (The Host check is starlette's TrustedHostMiddleware, installed inside this one.)"""

    def __init__(self, app, access: Access, csp: str, max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.access, self.max_body = app, access, max_body
        self.headers = _security_headers(csp)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        from starlette.datastructures import Headers

        headers = Headers(scope=scope)
        refusal = self._refusal(scope, headers)
        if refusal is None:
            body, refusal = await self._read_body(scope, headers, receive)
        if refusal is not None:
            status, detail = refusal
            await _json(status, detail, send_with_headers, auth=status == 401)
            return
        await self.app(scope, _replay(body, receive), send_with_headers)

    def _refusal(self, scope, headers) -> tuple[int, str] | None:
        method, path = scope["method"], scope["path"]
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin not in self.access.origins:
                return 403, f"cross-origin request refused (Origin {origin[:100]!r} is not this page)"
            if headers.get("sec-fetch-site") == "cross-site":
                return 403, "cross-site request refused"
        if path.startswith("/api/") and not self.access.token_ok(headers.get("authorization")):
            return 401, ("this server needs its token: open the address `physlora serve` printed "
                         "(it ends in #token=...)")
        return None

    async def _read_body(self, scope, headers, receive) -> tuple[list[dict], tuple[int, str] | None]:
        """The whole request body, read up to the cap (a declared or streamed larger one is refused)."""
        too_large = (413, f"request body too large (at most {self.max_body} bytes)")
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return [], too_large
        if scope["method"] in SAFE_METHODS and declared is None and "chunked" not in headers.get("transfer-encoding", ""):
            return [], None
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body:
                return [], too_large
            if not message.get("more_body", False):
                break
        return messages, None


def _replay(messages: list[dict], receive):
    async def replayed():
        return messages.pop(0) if messages else await receive()

    return replayed


async def _json(status: int, detail: str, send, *, auth: bool = False) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if auth:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
