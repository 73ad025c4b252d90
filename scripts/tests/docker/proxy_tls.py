"""TLS through the production proxy (deploy/caddy/Caddyfile): its local CA, trusted by Python and by a real Chromium.

For localhost Caddy signs its certificate with a CA of its own, made at its first start in its data
volume. These helpers copy that root out of the running container and make clients trust it, and only
it: requests/ssl through a CA file (the chain is verified, the name too: connect to localhost), and a
headless Chromium through an NSS database under a HOME of its own, which is where Chromium on Linux
reads the trust anchors a user added. That validates the chain as a real user's browser does (unlike
--ignore-certificate-errors-spki-list, which only waives the errors of a matching certificate).
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from browser import Browser, find_chromium

from harness import wait_for

# Where the official image and the stand-in keep it (XDG_DATA_HOME=/data).
CA_IN_CONTAINER = "/data/caddy/pki/authorities/local/root.crt"
CERTUTIL_PACKAGE = "libnss3-tools"  # Debian's (and Ubuntu's) package with NSS's certutil


class CertutilMissing(RuntimeError):
    pass


def read_root_ca(container: str, directory: Path, timeout: float = 30) -> Path:
    """The proxy's root CA (PEM), copied out of the running `container` into `directory`.

    Caddy makes the CA when it first needs a certificate for localhost, just after it starts: this
    waits for the file. `docker cp` needs no shell or cat in the image.
    """
    destination = Path(directory) / "caddy-local-root.crt"

    def copied() -> bool:
        result = subprocess.run(["docker", "cp", f"{container}:{CA_IN_CONTAINER}", str(destination)],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip())
        return "BEGIN CERTIFICATE" in destination.read_text()

    wait_for(copied, timeout, 0.2, f"{CA_IN_CONTAINER} in {container}")
    return destination


def ssl_context(ca_file: Path, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A client context trusting `ca_file` alone, checking the chain and the name."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def alpn_protocol(port: int, ca_file: Path, host: str = "127.0.0.1", server_name: str = "localhost",
                  offer: tuple[str, ...] = ("h2", "http/1.1")) -> str | None:
    """The protocol the server picks by ALPN from `offer`, after a verified handshake for `server_name`."""
    context = ssl_context(ca_file, list(offer))
    with socket.create_connection((host, port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=server_name) as tls:
        return tls.selected_alpn_protocol()


def wait_https(url: str, ca_file: Path, timeout: float = 60) -> requests.Response:
    """The first verified 200 from `url`: the proxy has its certificate and the upstream answers."""
    def answered():
        response = requests.get(url, verify=str(ca_file), timeout=5)
        if response.status_code != 200:
            raise AssertionError(f"{response.status_code}: {response.text[:200]}")
        return response

    return wait_for(answered, timeout, 0.2, f"a verified 200 from {url}")


def nss_home(ca_file: Path, home: Path) -> Path:
    """`home` with an NSS database (~/.pki/nssdb) that trusts `ca_file` to sign TLS servers.

    Chromium on Linux reads the trust anchors a user added there (base::GetHomeDir() is $HOME).
    Needs certutil: Debian's package libnss3-tools.
    """
    certutil = shutil.which("certutil")
    if certutil is None:
        raise CertutilMissing(
            f"certutil not found: the browser trusts the proxy's CA through an NSS database, which "
            f"certutil writes. Install it: apt-get install {CERTUTIL_PACKAGE}")
    database = Path(home) / ".pki" / "nssdb"
    database.mkdir(parents=True, exist_ok=True)
    for args in (["-N", "--empty-password"],
                 # C,, : a trusted CA for TLS servers (and nothing else: not for mail, not for code).
                 ["-A", "-n", "caddy-local-root", "-t", "C,,", "-i", str(ca_file)]):
        result = subprocess.run([certutil, "-d", f"sql:{database}", *args], capture_output=True, text=True,
                                timeout=30)
        if result.returncode != 0:
            raise RuntimeError(f"certutil {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return Path(home)


@contextmanager
def _environment(**variables: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def trusting_browser(ca_file: Path | None, executable: str | None = None) -> Iterator[Browser]:
    """A headless Chromium (browser.Browser) whose HOME's NSS database trusts `ca_file`.

    `ca_file=None`: an empty HOME, a browser that trusts no local CA (to see the error a visitor
    would). Chromium reads HOME when it starts; the test process's own is restored at once.
    """
    executable = executable or find_chromium()
    if executable is None:
        raise RuntimeError("no chromium on PATH: apt-get install chromium (scripts/ci/ensure-chromium.sh)")
    home = Path(tempfile.mkdtemp(prefix="proxy-tls-home-"))
    browser = None
    try:
        if ca_file is not None:
            nss_home(ca_file, home)
        with _environment(HOME=str(home)):
            browser = Browser(executable)
        yield browser
    finally:
        if browser is not None:
            browser.close()
        shutil.rmtree(home, ignore_errors=True)
