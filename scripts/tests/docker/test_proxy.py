"""The production reverse proxy (issue 22): deploy/caddy/Caddyfile on the Caddy image, in front of a backend.

Caddy runs the committed Caddyfile with the hardening of the compose file's proxy service (a
read-only root, volumes for /data and /config, every capability dropped but NET_BIND_SERVICE,
no-new-privileges), on a network of its own with a ten-line backend under the name the Caddyfile's
default upstream gives the app (prod:5000). The backend echoes what reached it as JSON. Ports are
published on 127.0.0.1, chosen by Docker. CI passes the images (CADDY_IMAGE, PYTHON_IMAGE); without
them the official images are used where present or pullable, else the stand-ins are built
(scripts/ci/official-or-standin.sh).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import time
import uuid

import pytest
import requests
from browser import find_chromium

from harness import ROOT, free_port, wait_for
from proxy_tls import CERTUTIL_PACKAGE, alpn_protocol, read_root_ca, ssl_context, trusting_browser, wait_https

CADDYFILE = ROOT / "deploy" / "caddy" / "Caddyfile"
# The backend's image: the Dockerfile's own default base (the official Python image of this project).
DOCKERFILE_PYTHON = re.search(r"(?m)^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text())[1]
FORGED = "6.6.6.6"
PAGE_TEXT = "served by the backend behind the proxy"
# What reached the backend, as JSON (GET /page: a small HTML page for the browser).
BACKEND = f'''
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/page":
            body, kind = b"<!doctype html><title>backend</title><p>{PAGE_TEXT}</p>", "text/html"
        else:
            headers = {{name.lower(): self.headers.get_all(name) for name in self.headers}}
            seen = {{"remote_addr": self.client_address[0], "path": self.path, "headers": headers}}
            body, kind = json.dumps(seen).encode(), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("0.0.0.0", 5000), Echo).serve_forever()
'''
# The hardening of docker-compose.yml's proxy service (prod profile).
HARDENING = ["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
             "--security-opt", "no-new-privileges:true", "--pids-limit", "256"]


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def image(variable: str, official: str) -> str:
    """The image CI names in `variable`, else the official one or its stand-in.

    A project made from the template has no scripts/ci/: there Docker pulls the official image."""
    if os.environ.get(variable):
        return os.environ[variable]
    script = ROOT / "scripts" / "ci" / "official-or-standin.sh"
    if not script.exists():
        return official
    return subprocess.run(["bash", str(script), official], capture_output=True, text=True, check=True,
                          timeout=1200).stdout.strip()


class Proxy:
    def __init__(self, name: str, tmp):
        self.name = name
        self.network, self.caddy, self.backend = name, f"{name}-caddy", f"{name}-app"
        self.volumes = (f"{name}-data", f"{name}-config")
        self.tmp = tmp

    def start(self, caddy_image: str, python_image: str) -> None:
        docker("network", "create", self.network)
        docker("run", "-d", "--name", self.backend, "--network", self.network, "--network-alias", "prod",
               "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
               "--user", "65534:65534", python_image, "python3", "-c", BACKEND)
        # Free ports, published on the same numbers, as the Caddyfile asks (HTTPS_PORT, HTTP_PORT).
        self.http_port, self.https_port = free_port(), free_port()
        docker("run", "-d", "--name", self.caddy, "--network", self.network,
               "-e", f"HTTP_PORT={self.http_port}", "-e", f"HTTPS_PORT={self.https_port}",
               "-p", f"127.0.0.1:{self.http_port}:{self.http_port}",
               "-p", f"127.0.0.1:{self.https_port}:{self.https_port}",
               "-v", f"{CADDYFILE}:/etc/caddy/Caddyfile:ro",
               "-v", f"{self.volumes[0]}:/data", "-v", f"{self.volumes[1]}:/config", *HARDENING, caddy_image)
        self.url = f"https://localhost:{self.https_port}"
        self.ca = read_root_ca(self.caddy, self.tmp)
        wait_https(self.url + "/ready", self.ca)

    def logs(self) -> str:
        result = docker("logs", self.caddy, check=False)
        return result.stdout + result.stderr

    def access_log(self, uri: str) -> dict:
        """Caddy's access log line for the request of `uri`."""
        def logged():
            for line in self.logs().splitlines():
                if line.startswith("{") and '"http.log.access' in line:
                    entry = json.loads(line)
                    if entry["request"]["uri"] == uri:
                        return entry
            return None
        return wait_for(logged, 10, 0.1, f"the access log line of {uri}")

    def gateway(self) -> str:
        """The network's gateway: the source address of a connection published from the host's 127.0.0.1."""
        gateway = "{{(index .IPAM.Config 0).Gateway}}"
        return docker("network", "inspect", self.network, "--format", gateway).stdout.strip()

    def stop(self) -> None:
        docker("rm", "-f", self.caddy, self.backend, check=False)
        docker("network", "rm", self.network, check=False)
        docker("volume", "rm", *self.volumes, check=False)


@pytest.fixture(scope="module")
def caddy_image() -> str:
    return image("CADDY_IMAGE", "caddy:2")


@pytest.fixture(scope="module")
def proxy(caddy_image, tmp_path_factory):
    p = Proxy(f"devtest-proxy-{uuid.uuid4().hex[:10]}", tmp_path_factory.mktemp("proxy"))
    try:
        try:
            p.start(caddy_image, image("PYTHON_IMAGE", DOCKERFILE_PYTHON))
        except Exception:
            print(p.logs())
            raise
        yield p
    finally:
        p.stop()


def echo(proxy: Proxy, path: str, **headers: str) -> dict:
    response = requests.get(proxy.url + path, headers=headers, verify=str(proxy.ca), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_https_on_localhost_validates_against_the_proxys_own_ca(proxy):
    response = requests.get(proxy.url + "/hello", verify=str(proxy.ca), timeout=10)
    assert response.status_code == 200 and response.json()["path"] == "/hello"
    # The chain leads to that CA and nowhere else: the public CAs do not vouch for it.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(proxy.url + "/hello", timeout=10)
    # The certificate is for localhost (the name was checked above too), from Caddy's own CA.
    with socket.create_connection(("127.0.0.1", proxy.https_port), timeout=10) as raw, \
            ssl_context(proxy.ca).wrap_socket(raw, server_hostname="localhost") as tls:
        certificate = tls.getpeercert()
    assert certificate["subjectAltName"] == (("DNS", "localhost"),)
    issuer = dict(pair for rdn in certificate["issuer"] for pair in rdn)
    assert "Caddy Local Authority" in issuer["commonName"]


def test_plain_http_redirects_to_https(proxy):
    plain = f"http://localhost:{proxy.http_port}/some/page?x=1"
    response = requests.get(plain, allow_redirects=False, timeout=10)
    assert response.status_code == 308, (response.status_code, response.text)
    # The same host and URL over https, on the port the browser reaches (HTTPS_PORT).
    assert response.headers["Location"] == f"{proxy.url}/some/page?x=1"
    followed = requests.get(plain, verify=str(proxy.ca), timeout=10)
    assert followed.status_code == 200 and followed.json()["path"] == "/some/page?x=1"


def test_http2_is_negotiated(proxy):
    assert alpn_protocol(proxy.https_port, proxy.ca) == "h2"
    # A client that speaks only HTTP/1.1 is served too.
    assert alpn_protocol(proxy.https_port, proxy.ca, offer=("http/1.1",)) == "http/1.1"


def test_the_backend_learns_the_real_client_and_never_a_forged_one(proxy):
    path = f"/whoami-{uuid.uuid4().hex[:8]}"
    seen = echo(proxy, path, **{"X-Forwarded-For": FORGED, "X-Forwarded-Proto": "http",
                                "X-Forwarded-Host": "evil.example", "Forwarded": f"for={FORGED}",
                                "X-Real-IP": FORGED})
    headers = seen["headers"]
    client = proxy.access_log(path)["request"]["remote_ip"]
    # The client's own connection, as Caddy saw it: from the host's 127.0.0.1 through the published
    # port, that is the network's gateway.
    assert client == proxy.gateway()
    assert headers["x-forwarded-for"] == [client]
    assert headers["x-forwarded-proto"] == ["https"]
    assert headers["x-forwarded-host"] == [f"localhost:{proxy.https_port}"]
    assert "forwarded" not in headers and "x-real-ip" not in headers
    assert FORGED not in json.dumps(headers) and "evil.example" not in json.dumps(headers)
    # The backend's own peer is the proxy, on the network.
    caddy_address = docker("inspect", proxy.caddy, "--format",
                           "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}").stdout.strip()
    assert seen["remote_addr"] == caddy_address


def test_a_client_that_dribbles_its_headers_is_cut_off(proxy):
    """Slowloris: one header line a second never ends a request; read_header (10 s) ends the connection.

    Caddy 2.6 has no such limit by default: without the Caddyfile's timeouts this stays open."""
    context = ssl_context(proxy.ca, ["http/1.1"])
    with socket.create_connection(("127.0.0.1", proxy.https_port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        # Non-blocking: a TLS record that carries no data (a session ticket) must not look like an
        # answer, nor block a read until the client's own timeout.
        tls.setblocking(False)
        start = time.monotonic()
        tls.sendall(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n")
        closed_after = None
        for n in range(30):
            readable, _, _ = select.select([tls], [], [], 1)
            try:
                if readable and tls.recv(4096) == b"":
                    closed_after = time.monotonic() - start
                    break
            except ssl.SSLWantReadError:
                pass
            except OSError:  # ssl.SSLEOFError, a reset: closed all the same
                closed_after = time.monotonic() - start
                break
            tls.sendall(b"X-Slow-%d: 1\r\n" % n)
    assert closed_after is not None, "the connection was still open after 30 s of dribbled headers"
    assert 9 <= closed_after <= 15, closed_after


def test_chromium_trusts_the_proxy_ca_and_opens_the_page_over_h2(proxy):
    if find_chromium() is None or shutil.which("certutil") is None:
        message = f"no chromium or certutil (apt-get install chromium {CERTUTIL_PACKAGE})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}: under CI=true the browser tests must run", pytrace=False)
        pytest.skip(message)
    with trusting_browser(proxy.ca) as browser:
        tab = browser.tab(proxy.url + "/page")
        tab.wait_text(PAGE_TEXT, timeout=20)
        assert tab.evaluate("location.href") == proxy.url + "/page"
        assert tab.evaluate("window.isSecureContext") is True
        assert tab.evaluate("performance.getEntriesByType('navigation')[0].nextHopProtocol") == "h2"
    # The trust is what made it: a browser without the CA (an empty HOME) gets a stranger's warning.
    with trusting_browser(None) as stranger:
        stranger.tab(proxy.url + "/page").wait_text("ERR_CERT_AUTHORITY_INVALID", timeout=20)


def adapted(caddy_image: str, **env: str) -> dict:
    """The JSON config the Caddyfile becomes with `env` (caddy adapt: nothing is started)."""
    variables = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
    result = docker("run", "--rm", *variables, "-v", f"{CADDYFILE}:/etc/caddy/Caddyfile:ro", *HARDENING,
                    caddy_image, "caddy", "adapt", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile")
    # No warning (an unnecessary or deprecated directive), but for the layout: another Caddy's
    # `caddy fmt` may space a file otherwise.
    warnings = [line for line in result.stderr.splitlines() if "WARN" in line and "formatted" not in line]
    assert not warnings, result.stderr
    return json.loads(result.stdout)


def site_hosts(config: dict) -> list[str]:
    return [host for server in config["apps"]["http"]["servers"].values() for route in server["routes"]
            for matcher in route.get("match", []) for host in matcher.get("host", [])]


def test_a_real_domain_gets_an_acme_certificate_with_the_optional_email(caddy_image):
    config = adapted(caddy_image, DOMAIN="shop.example.com", ACME_EMAIL="ops@example.com")
    assert site_hosts(config) == ["shop.example.com"]
    (policy,) = config["apps"]["tls"]["automation"]["policies"]
    assert policy["subjects"] == ["shop.example.com"]
    assert {"module": "acme", "email": "ops@example.com"} in policy["issuers"]
    # Compose passes ${ACME_EMAIL:-}: set but empty is an account without an address, not an error.
    config = adapted(caddy_image, DOMAIN="shop.example.com", ACME_EMAIL="")
    assert site_hosts(config) == ["shop.example.com"]
    assert "email" not in json.dumps(config["apps"].get("tls", {}))
    # Unset, the defaults: localhost, which Caddy's automatic HTTPS gives its own CA (seen above),
    # on the standard ports.
    config = adapted(caddy_image)
    assert site_hosts(config) == ["localhost"]
    assert config["apps"]["http"].get("http_port", 80) == 80
    assert [server["listen"] for server in config["apps"]["http"]["servers"].values()] == [[":443"]]


def test_the_image_is_the_official_images_contract(caddy_image):
    config = json.loads(docker("image", "inspect", caddy_image, "--format", "{{json .Config}}").stdout)
    assert config["Cmd"] == ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
    assert {"XDG_DATA_HOME=/data", "XDG_CONFIG_HOME=/config"} <= set(config["Env"])
    assert {"80/tcp", "443/tcp", "443/udp"} <= set(config["ExposedPorts"])
    assert config.get("User", "") in ("", "root", "0")
    # The binary carries cap_net_bind_service, as the official image's does: with every capability
    # dropped the kernel refuses to run it, so the compose service needs its cap_add.
    refused = docker("run", "--rm", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
                     caddy_image, "caddy", "version", check=False)
    assert refused.returncode != 0 and "operation not permitted" in refused.stderr, refused
    # With the compose service's hardening it runs (and the proxy fixture serves with it).
    assert "2." in docker("run", "--rm", *HARDENING, caddy_image, "caddy", "version").stdout
