"""Concurrent HTTP clients that post a form, as browsers do: CSRF token first, then the POST."""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Sample:
    kind: str
    seconds: float
    status: int


@dataclass
class LoadResult:
    samples: list[Sample]
    wall_seconds: float
    errors: list[str] = field(default_factory=list)

    def seconds(self, kind: str) -> list[float]:
        return sorted(sample.seconds for sample in self.samples if sample.kind == kind)

    @property
    def statuses(self) -> set[int]:
        return {sample.status for sample in self.samples}

    @property
    def requests_per_second(self) -> float:
        return len(self.samples) / self.wall_seconds if self.wall_seconds else 0.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of sorted `values`."""
    if not values:
        return float("nan")
    rank = max(1, round(fraction * len(values) + 0.5))
    return values[min(rank, len(values)) - 1]


class FormClient:
    """One client with its own keep-alive connection and CSRF cookie.

    Only the CSRF cookie is sent back: the benchmark measures the POST, and does not follow the
    redirect that would show (and use up) the confirmation message.
    """

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
        self.csrf_cookie = ""
        self.csrf_token = ""

    def _request(
        self, method: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, list[str]]:
        for attempt in (1, 2):
            try:
                self.connection.request(method, self.path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                return response.status, response.read(), response.headers.get_all("Set-Cookie", [])
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection; a browser reconnects too.
                self.connection.close()
                self.connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=TIMEOUT_SECONDS
                )
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def fetch_token(self) -> None:
        status, body, cookies = self._request("GET")
        if status != http.HTTPStatus.OK:
            raise RuntimeError(f"GET {self.path} answered {status}")
        for header in cookies:
            jar: SimpleCookie = SimpleCookie(header)
            if "csrftoken" in jar:
                self.csrf_cookie = jar["csrftoken"].value
        match = CSRF_INPUT.search(body.decode())
        if not (match and self.csrf_cookie):
            raise RuntimeError(f"GET {self.path} gave no CSRF token")
        self.csrf_token = match[1]

    def post(self, email: str) -> tuple[int, float]:
        from urllib.parse import urlencode

        body = urlencode({"csrfmiddlewaretoken": self.csrf_token, "email": email})
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={self.csrf_cookie}",
        }
        started = time.perf_counter()
        status, _body, _cookies = self._request("POST", body, headers)
        return status, time.perf_counter() - started

    def close(self) -> None:
        self.connection.close()


def run_load(
    *, host: str, port: int, path: str, work: Sequence[tuple[str, str]], clients: int
) -> LoadResult:
    """Post every (kind, address) of `work` from `clients` concurrent clients, each posting its
    next as soon as its last is answered (a closed loop)."""
    return _post_all(host=host, port=port, path=path, work=work, clients=clients, rate=None)


def run_paced_load(
    *,
    host: str,
    port: int,
    path: str,
    work: Sequence[tuple[str, str]],
    rate: float,
    clients: int,
) -> LoadResult:
    """Post `work` at a steady `rate` per second, whatever the answers take (an open loop).

    Request i is due `i / rate` seconds after the start, as if users arrived on a schedule, and
    its latency counts from when it was due, so time spent waiting for a free client counts too
    (no "coordinated omission": a slow answer does not hold back the requests behind it).
    """
    return _post_all(host=host, port=port, path=path, work=work, clients=clients, rate=rate)


def _post_all(
    *,
    host: str,
    port: int,
    path: str,
    work: Sequence[tuple[str, str]],
    clients: int,
    rate: float | None,
) -> LoadResult:
    samples: list[Sample] = []
    errors: list[str] = []
    lock = threading.Lock()
    pending = iter(enumerate(work))
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    start: list[float] = []

    def client_thread() -> None:
        client = FormClient(host, port, path)
        try:
            client.fetch_token()
        except Exception as error:
            with lock:
                errors.append(f"token: {error}")
        ready.wait()
        go.wait()
        try:
            while True:
                with lock:
                    item = next(pending, None)
                if item is None:
                    return
                number, (kind, address) = item
                due = None if rate is None else start[0] + number / rate
                if due is not None:
                    time.sleep(max(0.0, due - time.perf_counter()))
                try:
                    status, seconds = client.post(address)
                except Exception as error:
                    with lock:
                        errors.append(f"{kind}: {type(error).__name__}: {error}")
                    continue
                if due is not None:
                    seconds = time.perf_counter() - due
                with lock:
                    samples.append(Sample(kind, seconds, status))
        finally:
            client.close()

    threads = [threading.Thread(target=client_thread, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()  # Every client holds its token: the clock starts with the first POST.
    start.append(time.perf_counter())
    go.set()
    for thread in threads:
        thread.join()
    return LoadResult(samples, time.perf_counter() - start[0], errors)
