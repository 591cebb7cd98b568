"""Make any attempt to reach a non-loopback address fail loudly.

Self-contained on purpose (standard library only, no relative imports): the test plugin
copies this file into a temporary folder next to a generated sitecustomize.py, so Python
subprocesses started by the tests are guarded too.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
LOG_ENV = "JOBSPEC_NETGUARD_LOG"  # file where guarded subprocesses append what they tried
INSTALLED = False
attempts: list[str] = []
_real: dict[str, Any] = {}


def is_local(host: object) -> bool:
    if host is None or host in ("", b""):
        return True  # getaddrinfo(None, port): a passive (bind) lookup
    name = (host.decode() if isinstance(host, bytes) else str(host)).strip("[]").lower()
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _refuse(host: object, port: object) -> None:
    where = f"{host}:{port}"
    attempts.append(where)
    log = os.environ.get(LOG_ENV)
    if log:
        try:
            with open(log, "a", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()} {where}\n")
        except OSError:
            pass
    raise RuntimeError(f"test tried to reach the network: {where}")


def _check_address(address: object) -> None:
    if isinstance(address, tuple) and len(address) >= 2 and not is_local(address[0]):
        _refuse(address[0], address[1])


def _connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check_address(address)
    return _real["connect"](self, address)


def _connect_ex(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _check_address(address)
    return _real["connect_ex"](self, address)


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if not is_local(host):
        _refuse(host, port)
    return _real["getaddrinfo"](host, port, *args, **kwargs)


def _create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
    _check_address(address)
    return _real["create_connection"](address, *args, **kwargs)


def _gethostbyname(host: Any) -> Any:
    if not is_local(host):
        _refuse(host, "")
    return _real["gethostbyname"](host)


def _gethostbyname_ex(host: Any) -> Any:
    if not is_local(host):
        _refuse(host, "")
    return _real["gethostbyname_ex"](host)


_PATCHES = {
    (socket.socket, "connect"): _connect,
    (socket.socket, "connect_ex"): _connect_ex,
    (socket, "getaddrinfo"): _getaddrinfo,
    (socket, "create_connection"): _create_connection,
    (socket, "gethostbyname"): _gethostbyname,
    (socket, "gethostbyname_ex"): _gethostbyname_ex,
}


def install() -> None:
    global INSTALLED
    if INSTALLED:
        return
    for (owner, name), guard in _PATCHES.items():
        _real[name] = getattr(owner, name)
        setattr(owner, name, guard)
    INSTALLED = True


def uninstall() -> None:
    global INSTALLED
    if not INSTALLED:
        return
    for owner, name in _PATCHES:
        setattr(owner, name, _real[name])
    INSTALLED = False


def installed() -> bool:
    """True when every patch is in place (so a test may safely try a forbidden address)."""
    return INSTALLED and all(getattr(owner, name) is guard
                             for (owner, name), guard in _PATCHES.items())
