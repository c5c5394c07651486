"""`deepstart serve` under slow and hostile clients: hundreds of half-sent requests held open do not
keep /health from answering, past the open-file limit as well; a request that does not arrive in
time is closed; past the connection limit with every connection busy, a new one gets 503 and the
refusal is logged once a second at most. Loopback only; every loop is bounded in count and time."""

from __future__ import annotations

import asyncio
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from deepstart.cli import main

HALF_SENT = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("serve-clients")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEEPSTART_HOME", str(out / "home"))
        assert main(["run", "digits", "--epochs", "1", "--quiet", "--out", str(out / "runs")]) == 0
    return next((out / "runs").iterdir())


def health(port: int) -> tuple[bytes, float]:
    """The status line of GET /health on a fresh connection, and the seconds it took."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        reply = s.recv(4096)
    return reply.split(b"\r\n")[0], time.perf_counter() - started


@pytest.mark.parametrize("slow, open_files", [(300, None), (356, 256)],
                         ids=["300-half-sent", "356-half-sent-file-limit-256"])
def test_health_answers_within_a_second_under_half_sent_requests(digits_run, slow, open_files):
    def limit_files():  # in the server process only
        if open_files:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    proc = subprocess.Popen([sys.executable, "-m", "deepstart", "serve", str(digits_run),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=limit_files)
    held: list[socket.socket] = []
    try:
        match = re.search(r":(\d+)/", proc.stdout.readline())
        assert match, proc.stderr.read()
        port = int(match.group(1))
        for _ in range(slow):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(HALF_SENT)  # and never the blank line that ends the headers
            held.append(s)
        time.sleep(0.5)  # let the server take them all in
        for _ in range(3):
            status, seconds = health(port)
            assert status == b"HTTP/1.1 200 OK" and seconds < 1.0, (status, seconds)
    finally:
        for s in held:
            s.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    err = proc.stderr.read()
    assert "Traceback" not in err and len(err.splitlines()) <= 2, err[:2000]


class Threaded:
    """A real uvicorn server with deepstart's protocol, on a loopback port, in a thread; its app
    answers /block only when `release` is set, so a test can hold connections busy."""

    def __init__(self, max_connections: int, request_seconds: float):
        import uvicorn

        from deepstart.serve import guarded_protocol

        self.release = threading.Event()

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            message = {"more_body": True}
            while message.get("more_body"):  # the body first, as deepstart's app reads it
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
            if scope["path"] == "/block":
                for _ in range(200):  # 10 s at most
                    if self.release.is_set():
                        break
                    await asyncio.sleep(0.05)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"ok"})

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off",
                                http=guarded_protocol(max_connections, request_seconds))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self):
        self.thread.start()
        for _ in range(100):
            if self.server.started:
                return self
            time.sleep(0.05)
        raise AssertionError("the server did not start")

    def __exit__(self, *exc):
        self.release.set()
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def connect(port: int, data: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(data)
    return s


def answer(s: socket.socket) -> bytes:
    """One whole answer of the test app (its body is b"ok")."""
    reply = b""
    while not reply.endswith(b"\r\n\r\nok") and len(reply) < 1000:
        chunk = s.recv(1000)
        if not chunk:
            break
        reply += chunk
    return reply


def closed_within(s: socket.socket, seconds: float) -> bool:
    s.settimeout(seconds)
    try:
        return s.recv(100) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_request_that_does_not_arrive_in_time_is_closed():
    with Threaded(max_connections=10, request_seconds=0.5) as server:
        headers, body = connect(server.port, HALF_SENT), connect(
            server.port, HALF_SENT + b"Content-Length: 20\r\n\r\n{\"pix")
        started = time.perf_counter()
        assert closed_within(headers, 3) and closed_within(body, 3)
        assert 0.4 < time.perf_counter() - started < 3
        # a whole request is answered, and its keep-alive connection then gets the same deadline
        kept = connect(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert answer(kept).startswith(b"HTTP/1.1 200")
        assert closed_within(kept, 3)
        for s in (headers, body, kept):
            s.close()


def test_past_the_limit_the_longest_waiting_connection_goes_or_503_when_all_are_busy(capfd):
    with Threaded(max_connections=2, request_seconds=30) as server:
        waiting = connect(server.port, HALF_SENT)
        busy = connect(server.port, b"GET /block HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.3)
        # the limit is reached: the half-sent request makes room for a client that sends at once
        quick = connect(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert closed_within(waiting, 3)
        assert answer(quick).startswith(b"HTTP/1.1 200")
        # an idle keep-alive connection waits too: it makes room for the next busy one
        more = connect(server.port, b"GET /block HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert closed_within(quick, 3)
        time.sleep(0.3)
        # both connections are being answered: nothing to close, so new ones are refused
        refused = [connect(server.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                   for _ in range(5)]
        replies = [s.recv(200) for s in refused]
        assert all(r.startswith(b"HTTP/1.1 503") and b"too many connections" in r
                   for r in replies), replies
        server.release.set()
        assert answer(busy).startswith(b"HTTP/1.1 200")
        assert answer(more).startswith(b"HTTP/1.1 200")
        for s in (waiting, busy, quick, more, *refused):
            s.close()
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "refused" in line]
    assert lines == ["deepstart: refused 1 connection(s): all 2 connections busy (the limit)"], err
