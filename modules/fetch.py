"""Fetching a URL on a person's behalf, safely: http and https only, a time limit for the whole fetch and a byte
limit, at most MAX_REDIRECTS redirects, and never a private, loopback, link-local or otherwise non-public address
unless the policy allows it (a local SearXNG). Search and the OpenAI routes' image_url both fetch through it. The address is checked after DNS resolution and again on the
connected socket, so a name that resolves differently the second time (DNS rebinding) is refused too."""
from __future__ import annotations

import http.client
import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

MAX_REDIRECTS = 3
READ_PIECE = 64 * 1024
USER_AGENT = "OmniMoE-Studio-search/1"


class FetchError(Exception):
    """A fetch that failed or was refused; the message names the address and why."""


@dataclass(frozen=True)
class FetchPolicy:
    timeout_s: float = 8.0
    max_bytes: int = 2 * 1024**2
    allow_private: bool = False
    private_hint: str = "--search-allow-private allows it, for a local SearXNG"   # what to do about a refusal


@dataclass(frozen=True)
class Fetched:
    url: str                       # after redirects
    content_type: str              # e.g. text/html
    charset: str | None
    data: bytes
    truncated: bool                # the body was longer than the byte limit and was cut there


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_address(url: str, policy: FetchPolicy) -> tuple[str, str, int]:
    """(scheme, host, port) of an allowed URL; FetchError naming the URL otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchError(f"{url[:200]}: only http and https addresses are fetched, not {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise FetchError(f"{url[:200]}: the address names no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchError(f"{url[:200]}: the port is not valid") from None
    if not policy.allow_private:
        try:
            resolved = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
        except OSError:
            raise FetchError(f"{url[:200]}: the host {parts.hostname!r} could not be resolved") from None
        refused = sorted(a for a in resolved if not _public(a))
        if refused:
            raise FetchError(f"{url[:200]}: {parts.hostname!r} is a private or local address ({refused[0]}); "
                             f"it is not fetched ({policy.private_hint})")
    return parts.scheme, parts.hostname, port


def _check_peer(sock: socket.socket, host: str, policy: FetchPolicy) -> None:
    peer = sock.getpeername()[0]
    if not policy.allow_private and not _public(peer):
        sock.close()
        raise FetchError(f"{host!r} connected to a private or local address ({peer}); refused")


class _GuardedHTTP(http.client.HTTPConnection):
    policy = FetchPolicy()

    def connect(self):
        super().connect()
        _check_peer(self.sock, self.host, self.policy)


class _GuardedHTTPS(http.client.HTTPSConnection):
    policy = FetchPolicy()

    def connect(self):
        super().connect()               # the request is sent only after the peer is checked
        _check_peer(self.sock, self.host, self.policy)


def _connection(scheme: str, host: str, port: int, policy: FetchPolicy, timeout: float):
    kind = _GuardedHTTPS if scheme == "https" else _GuardedHTTP
    connection = kind(host, port, timeout=timeout)
    connection.policy = policy
    return connection


def _read(response, policy: FetchPolicy, deadline: float, sock: socket.socket) -> tuple[bytes, bool]:
    data = b""
    while len(data) <= policy.max_bytes:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        piece = response.read1(READ_PIECE) if hasattr(response, "read1") else response.read(READ_PIECE)
        if not piece:
            return data, False
        data += piece
    return data[:policy.max_bytes], True


def fetch(url: str, policy: FetchPolicy, accept: str = "text/html,text/plain;q=0.9,*/*;q=0.5") -> Fetched:
    """GET `url` within the policy's limits; FetchError saying why when it cannot."""
    deadline = time.monotonic() + policy.timeout_s
    for _ in range(MAX_REDIRECTS + 1):
        scheme, host, port = check_address(url, policy)
        parts = urlsplit(url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = _connection(scheme, host, port, policy, max(0.1, deadline - time.monotonic()))
        try:
            connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": accept,
                                                     "Accept-Encoding": "identity"})
            sock = connection.sock            # the response may take the socket over from the connection
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchError(f"{url[:200]}: the server answered {response.status} {response.reason}")
            data, truncated = _read(response, policy, deadline, sock)
            return Fetched(url, response.headers.get_content_type(), response.headers.get_content_charset(), data,
                           truncated)
        except (TimeoutError, socket.timeout):
            raise FetchError(f"{url[:200]}: no answer within {policy.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as error:
            raise FetchError(f"{url[:200]}: could not be fetched ({type(error).__name__}: {error})") from None
        finally:
            connection.close()
    raise FetchError(f"{url[:200]}: more than {MAX_REDIRECTS} redirects")
