"""Latency of the API's lists and gets on two q8s servers holding the same catalog.

    python3 bench/lists_latency.py REQUESTS NAME=URL,TOKEN NAME=URL,TOKEN

Each server gets the same requests, one at a time on one keep-alive connection (what a
client listing the catalog does); servers alternate in rounds, so load from elsewhere hits
both alike. Prints p50 and p99 per endpoint and server, the ratio of the second server's
p99 to the first's, and for each list how its deep page compares with its first page.
Standard library only.
"""

import http.client
import json
import sys
import time
import urllib.parse

ROUNDS = 4


class Server:
    def __init__(self, name: str, spec: str) -> None:
        url, self.token = spec.split(",", 1)
        self.name = name
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def get(self, path: str) -> tuple[bytes, dict[str, str]]:
        self.conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"bench: {self.name} GET {path} answered {r.status}: {body[:300]!r}")
        return body, {k.lower(): v for k, v in r.getheaders()}

    def cursor_after(self, path: str, items: int) -> str:
        """The cursor that starts the page after the first `items` items of `path`."""
        cursor, seen = None, 0
        while seen < items:
            step = min(1000, items - seen)
            query = f"{path}&limit={step}" + (f"&cursor={cursor}" if cursor else "")
            body, headers = self.get(query)
            seen += len(json.loads(body))
            cursor = headers.get("q8s-next-cursor")
            if cursor is None:
                sys.exit(f"bench: {self.name} {path} ended after {seen} items")
        return cursor

    def time(self, path: str, n: int) -> list[float]:
        out = []
        for _ in range(n):
            start = time.perf_counter()
            self.get(path)
            out.append(time.perf_counter() - start)
        return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    requests = int(sys.argv[1])
    servers = [Server(*arg.split("=", 1)) for arg in sys.argv[2:]]
    base, other = servers[0], servers[1]

    # The same item on both: the seeds give every row the same id on each store.
    first_app = json.loads(base.get("/api/v1/apps?scope=all&versions=all&limit=1")[0])[0]["id"]
    app_id = first_app[:-12] + f"{5000:012x}"
    instance_id = json.loads(base.get("/api/v1/instances?scope=all&status=all&limit=1")[0])[0]["id"]
    instance_id = instance_id[:-12] + f"{5000:012x}"
    endpoints: list[tuple[str, dict[str, str]]] = []
    lists = [
        ("apps (latest of each Name)", "/api/v1/apps?scope=all", 4000),
        ("apps?versions=all", "/api/v1/apps?scope=all&versions=all", 8000),
        ("instances?status=all", "/api/v1/instances?scope=all&status=all", 8000),
        ("instances (live)", "/api/v1/instances?scope=all", 8000),
    ]
    for label, path, deep in lists:
        endpoints.append((f"{label}, first page", {s.name: path for s in servers}))
        endpoints.append(
            (
                f"{label}, page after {deep}",
                {s.name: f"{path}&cursor={s.cursor_after(path, deep)}" for s in servers},
            )
        )
    endpoints.append(("GET /apps/{id}", {s.name: f"/api/v1/apps/{app_id}" for s in servers}))
    endpoints.append(
        ("GET /instances/{id}", {s.name: f"/api/v1/instances/{instance_id}" for s in servers})
    )

    times: dict[tuple[str, str], list[float]] = {}
    for label, paths in endpoints:
        for s in servers:  # warm-up
            s.time(paths[s.name], 20)
        for _ in range(ROUNDS):
            for s in servers:
                times.setdefault((label, s.name), []).extend(
                    s.time(paths[s.name], requests // ROUNDS)
                )

    ms = lambda v: f"{v * 1000:.2f}"  # noqa: E731
    print(
        f"{'endpoint (' + str(requests) + ' requests each, ms)':<44}"
        f"{base.name + ' p50':>12}{base.name + ' p99':>12}"
        f"{other.name + ' p50':>16}{other.name + ' p99':>16}{'p99 ratio':>11}"
    )
    worst = 0.0
    for label, _ in endpoints:
        a, b = times[(label, base.name)], times[(label, other.name)]
        ratio = percentile(b, 99) / percentile(a, 99)
        worst = max(worst, ratio)
        print(
            f"{label:<44}{ms(percentile(a, 50)):>12}{ms(percentile(a, 99)):>12}"
            f"{ms(percentile(b, 50)):>16}{ms(percentile(b, 99)):>16}{ratio:>10.2f}x"
        )
    print()
    print("deep page / first page, p50 (1.0: a page costs the same at any depth)")
    for label, _, deep in lists:
        cells = []
        for s in servers:
            first = percentile(times[(f"{label}, first page", s.name)], 50)
            later = percentile(times[(f"{label}, page after {deep}", s.name)], 50)
            cells.append(f"{s.name} {later / first:.2f}")
        print(f"  {label:<42}{'   '.join(cells)}")
    print()
    verdict = "ok" if worst <= 2 else "MISSED"
    print(f"worst p99 {other.name}/{base.name}: {worst:.2f}x   target <= 2x   {verdict}")


if __name__ == "__main__":
    main()
