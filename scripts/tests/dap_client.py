"""A small Debug Adapter Protocol client that behaves as VS Code does with debugpy and `subProcess`.

It attaches to a debugpy adapter, sets breakpoints and answers the adapter's `startDebugging`
requests (one for each process started or forked under the debugged one: the fork server, every
worker) by opening a session of its own for that process, with the same breakpoints. Every
`stopped` event of any session lands in one queue, with its session, for the test to read.
"""

from __future__ import annotations

import itertools
import json
import queue
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import requests

TIMEOUT = 30.0
# The view the tests debug, appended to the tests' app: the breakpoint goes on the marked line.
ROUTE = '''

@bp.get("/debugged")
def debugged():
    answer = "debugged"  # a breakpoint here
    return answer
'''


@dataclass
class Stop:
    session: Session
    thread_id: int
    path: str
    line: int


class Session:
    """One DAP connection: requests answered through futures, events and reverse requests handled."""

    def __init__(self, client: DebugClient):
        self.client = client
        self.sock = socket.create_connection((client.host, client.port), timeout=TIMEOUT)
        self.sock.settimeout(None)
        self.seq = itertools.count(1)
        self.pending: dict[int, queue.Queue] = {}
        self.initialized = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        with self.lock:
            self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def request(self, command: str, arguments: dict | None = None, wait: bool = True) -> dict | queue.Queue:
        seq = next(self.seq)
        answer: queue.Queue = queue.Queue()
        self.pending[seq] = answer
        self.send({"seq": seq, "type": "request", "command": command, "arguments": arguments or {}})
        if not wait:
            return answer
        response = answer.get(timeout=TIMEOUT)
        if not response.get("success"):
            raise AssertionError(f"{command} failed: {response.get('message')}")
        return response.get("body", {})

    def attach(self, configuration: dict) -> None:
        """What VS Code does: initialize, attach, then the breakpoints once `initialized` came."""
        self.request("initialize", {"clientID": "vscode", "adapterID": "debugpy", "pathFormat": "path",
                                    "linesStartAt1": True, "columnsStartAt1": True,
                                    "supportsStartDebuggingRequest": True})
        attached = self.request("attach", configuration, wait=False)
        if not self.initialized.wait(TIMEOUT):
            raise AssertionError("the adapter never sent `initialized`")
        for path, lines in self.client.breakpoints.items():
            self.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": n} for n in lines]})
        self.request("setExceptionBreakpoints", {"filters": []})
        self.request("configurationDone")
        attached.get(timeout=TIMEOUT)

    def stop_at(self, thread_id: int) -> tuple[str, int]:
        frame = self.request("stackTrace", {"threadId": thread_id, "levels": 1})["stackFrames"][0]
        return frame["source"]["path"], frame["line"]

    def close(self) -> None:
        """As an editor's Stop on an attached session does: disconnect, leaving the process running."""
        try:
            self.request("disconnect", {"terminateDebuggee": False}, wait=False).get(timeout=5)
        except (OSError, queue.Empty):
            pass  # gone already (its process ended)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # a reader blocked in recv would keep the socket open
            self.sock.close()
        except OSError:
            pass

    def _read(self) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = self._recv()
                if not chunk:
                    return
                buffer += chunk
            header, buffer = buffer.split(b"\r\n\r\n", 1)
            length = int(next(line.split(b":")[1] for line in header.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            while len(buffer) < length:
                chunk = self._recv()
                if not chunk:
                    return
                buffer += chunk
            message, buffer = json.loads(buffer[:length]), buffer[length:]
            self._handle(message)

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except OSError:
            return b""

    def _handle(self, message: dict) -> None:
        kind = message["type"]
        if kind == "response" and message["request_seq"] in self.pending:
            self.pending.pop(message["request_seq"]).put(message)
        elif kind == "event" and message["event"] == "initialized":
            self.initialized.set()
        elif kind == "event" and message["event"] == "process":  # after configurationDone: breakpoints are set
            self.client.attached(message["body"]["systemProcessId"], self)
        elif kind == "event" and message["event"] == "stopped":
            threading.Thread(target=self.client.stopped, args=(self, message["body"]), daemon=True).start()
        elif kind == "request" and message["command"] == "startDebugging":
            self.send({"seq": next(self.seq), "type": "response", "request_seq": message["seq"], "success": True,
                       "command": "startDebugging"})
            self.client.start_child(message["arguments"]["configuration"])


class DebugClient:
    """Attach to the adapter at host:port with `configuration`; `stops` receives each breakpoint hit."""

    def __init__(self, host: str, port: int, breakpoints: dict[str, list[int]]):
        self.host, self.port = host, port
        self.breakpoints = breakpoints
        self.sessions: list[Session] = []
        self.stops: queue.Queue[Stop] = queue.Queue()
        self.errors: list[str] = []
        self.processes: dict[int, Session] = {}  # pid -> its session, breakpoints set
        self.changed = threading.Condition()

    def attach(self, configuration: dict) -> DebugClient:
        self.configuration = configuration
        session = Session(self)
        self.sessions.append(session)
        session.attach({**configuration, "subProcess": True, "justMyCode": True})
        return self

    def start_child(self, configuration: dict) -> None:
        def run():
            try:
                session = Session(self)
                self.sessions.append(session)
                session.attach(configuration)
            except Exception as exc:  # noqa: BLE001 - seen by the test through `errors`
                self.errors.append(f"subprocess session: {exc!r}")

        threading.Thread(target=run, daemon=True).start()

    def attached(self, pid: int, session: Session) -> None:
        with self.changed:
            self.processes[pid] = session
            self.changed.notify_all()

    def wait_for_process(self, pid: int, timeout: float = TIMEOUT) -> Session:
        """The session of process `pid` once its breakpoints are set (a late attach reaches a running
        worker through the adapter, a little after the attach itself)."""
        with self.changed:
            if not self.changed.wait_for(lambda: pid in self.processes, timeout):
                raise AssertionError(f"no debug session for process {pid} within {timeout:g}s: "
                                     f"{sorted(self.processes)}; errors: {self.errors}")
            return self.processes[pid]

    def stopped(self, session: Session, body: dict) -> None:
        try:
            path, line = session.stop_at(body["threadId"])
            self.stops.put(Stop(session, body["threadId"], path, line))
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"stackTrace: {exc!r}")

    def next_stop(self, timeout: float) -> Stop:
        try:
            return self.stops.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no breakpoint hit within {timeout:g}s; errors: {self.errors}") from None

    def close(self) -> None:
        """The processes' sessions first, then the one attached first, as an editor's Stop does."""
        for session in reversed(self.sessions):
            session.close()


def breakpoint_line(views: Path) -> int:
    return next(n for n, text in enumerate(views.read_text().splitlines(), 1) if "# a breakpoint here" in text)


def request_in_background(url: str) -> dict:
    """GET url in a thread (the worker stops at the breakpoint meanwhile); the result lands in the dict."""
    result: dict = {}

    def get():
        try:
            result["response"] = requests.get(url, timeout=60)
        except requests.RequestException as exc:  # its worker ended while paused, say
            result["error"] = exc

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    result["thread"] = thread
    return result


def hit_and_continue(client: DebugClient, url: str, path: str, line: int) -> Session:
    """Once the serving worker's debug session has its breakpoints: request, stop there, continue, 200."""
    worker = client.wait_for_process(requests.get(url.rsplit("/", 1)[0] + "/pid", timeout=10).json()["pid"])
    pending = request_in_background(url)
    stop = client.next_stop(timeout=20)
    assert (stop.path, stop.line) == (path, line)
    assert stop.session is worker and "response" not in pending  # held at the breakpoint, in that worker
    stop.session.request("continue", {"threadId": stop.thread_id})
    pending["thread"].join(20)
    assert pending["response"].status_code == 200 and pending["response"].text == "debugged"
    return stop.session
