"""Density benchmark driver (bench/density.sh starts the server and calls this).

Against a running q8s-server with the hello app imported, it measures:
  burst     BURST launches at once until all are RUNNING (wall time, per-instance start
            percentiles, each answering through the proxy);
  capacity  more launches, in batches, until CAPACITY run at once or the host has less than
            HOST_ROOM of available memory left; memory per instance from MemAvailable;
  idle      the server's CPU over IDLE_SECONDS with every instance running and no traffic;
  costs     what each instance costs: its processes (the server's descendants, by name) and
            their resident memory, and the server's own memory, threads and open files.
Standard library only: it runs with any python3.
"""

import argparse
import concurrent.futures
import json
import os
import time
import urllib.error
import urllib.request


def request(base, token, method, path, body=None, host=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def mem_available_kib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15)


def proc_status(pid):
    """Fields of /proc/PID/status (VmRSS, Threads, ...), as text; {} once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


def kib(field):
    return int(field.split()[0]) if field else 0


def open_files(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def descendants(root):
    """Every process under `root` (sandboxes, Qd, the apps), as {pid: name}."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            status = proc_status(entry)
            if status:
                children.setdefault(int(status.get("PPid", "0")), []).append(
                    (int(entry), status.get("Name", "?"))
                )
    found, todo = {}, [root]
    while todo:
        for pid, name in children.get(todo.pop(), []):
            found[pid] = name
            todo.append(pid)
    return found


def server_costs(pid):
    status = proc_status(pid)
    return {
        "rss_kib": kib(status.get("VmRSS")),
        "threads": int(status.get("Threads", "0")),
        "fds": open_files(pid),
    }


def instance_costs(server_pid, count):
    """Processes and resident memory per instance, by process name (RSS counts shared pages
    in each process, so the sum exceeds what MemAvailable loses)."""
    by_name = {}
    for pid, name in descendants(server_pid).items():
        entry = by_name.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += kib(proc_status(pid).get("VmRSS"))
    return {
        name: (n / count, rss / 1024 / count)
        for name, (n, rss) in sorted(by_name.items(), key=lambda kv: -kv[1][1])
    }


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class NotConverged(Exception):
    """A batch of launches did not all reach RUNNING in time (e.g. starts timing out and
    restarting, over and over, on an overloaded machine)."""

    def __init__(self, running, count, timeout, restarts):
        total, message = restarts
        super().__init__(
            f"only {running} of {count} RUNNING after {timeout} s, {total} restarts so far "
            f"(most say: {message!r})"
        )
        self.running = running


class Bench:
    def __init__(self, args):
        self.args = args
        self.base = f"http://127.0.0.1:{args.port}/api/v1"

    def api(self, method, path, body=None):
        status, payload = request(self.base, self.args.token, method, path, body)
        return status, (json.loads(payload) if payload else None)

    def launch(self, _):
        started = time.monotonic()
        path = f"/apps/{self.args.app}/instances"
        status, body = self.api("POST", path, {"visibility": "PRIVATE"})
        if status != 201:
            raise RuntimeError(f"launch answered {status}: {body}")
        return body["id"], started

    def statuses(self):
        found, cursor = {}, None
        while True:
            path = "/instances?status=all&limit=1000" + (f"&cursor={cursor}" if cursor else "")
            req = urllib.request.Request(self.base + path)
            req.add_header("Authorization", f"Bearer {self.args.token}")
            with urllib.request.urlopen(req, timeout=60) as r:
                cursor = r.headers.get("q8s-next-cursor")
                for instance in json.loads(r.read()):
                    found[instance["id"]] = (instance["status"], instance.get("status_message"))
            if not cursor:
                return found

    def launch_and_wait(self, count, timeout):
        """Launches `count` instances at once; returns {id: seconds from request to RUNNING}."""
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            launched = dict(pool.map(self.launch, range(count)))
        running = {}
        deadline = time.monotonic() + timeout
        while len(running) < count:
            if time.monotonic() > deadline:
                raise NotConverged(len(running), count, timeout, self.restarts(launched))
            now = time.monotonic()
            for iid, (status, message) in self.statuses().items():
                if iid not in launched or iid in running:
                    continue
                if status == "RUNNING":
                    running[iid] = now - launched[iid]
                elif status in ("FAILED", "TERMINATED"):
                    raise RuntimeError(f"instance {iid} is {status}: {message}")
            time.sleep(0.1)
        return running

    def restarts(self, ids):
        """The restarts of instances `ids` so far, and the most common status message."""
        total, messages = 0, {}
        for iid in ids:
            status, body = self.api("GET", f"/instances/{iid}")
            if status == 200:
                total += body.get("restarts", 0)
                message = (body.get("status_message") or "")[:70]
                messages[message] = messages.get(message, 0) + 1
        common = max(messages, key=messages.get) if messages else ""
        return total, common

    def answers(self, ids):
        def get(iid):
            status, _ = request(
                f"http://127.0.0.1:{self.args.port}",
                self.args.token,
                "GET",
                "/",
                host=f"{iid}.localhost:{self.args.port}",
            )
            return status

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            codes = list(pool.map(get, ids))
        return sum(1 for c in codes if c == 200)

    def run(self):
        a = self.args
        idle_mem = mem_available_kib()
        server_before = server_costs(a.server_pid)
        # --- burst ---------------------------------------------------------------------------
        started = time.monotonic()
        try:
            burst = self.launch_and_wait(a.burst, a.timeout)
        except NotConverged as failed:
            # Said, and recorded as such: the other measurements need a burst that converged.
            print(f"burst: {a.burst} launches: {failed}")
            print(json.dumps({"burst_count": a.burst, "burst_failed": str(failed)}))
            return
        burst_wall = time.monotonic() - started
        times = list(burst.values())
        ids = list(burst)
        answering = self.answers(ids)
        print(
            f"burst: {a.burst} launches, all RUNNING after {burst_wall:.1f} s; "
            f"start p50 {percentile(times, 50):.1f} s, p90 {percentile(times, 90):.1f} s, "
            f"p99 {percentile(times, 99):.1f} s; {answering}/{a.burst} answer through the proxy"
        )
        # --- capacity ------------------------------------------------------------------------
        room_kib = a.host_room_mib * 1024
        stopped_by = f"the {a.capacity} asked for"
        while len(ids) < a.capacity:
            per = (idle_mem - mem_available_kib()) / len(ids)
            if mem_available_kib() - per * a.batch < room_kib:
                stopped_by = f"the host's room ({a.host_room_mib} MiB available)"
                break
            batch = min(a.batch, a.capacity - len(ids))
            ids += list(self.launch_and_wait(batch, a.timeout))
        time.sleep(5)  # settled: started processes finish their imports
        used_kib = idle_mem - mem_available_kib()
        answering = self.answers(ids)
        statuses = self.statuses()
        running = sum(1 for iid in ids if statuses.get(iid, ("",))[0] == "RUNNING")
        print(
            f"capacity: {running} RUNNING at once ({answering} answer through the proxy), "
            f"stopped by {stopped_by}; {used_kib / 1024:.0f} MiB used in all, "
            f"{used_kib / 1024 / len(ids):.1f} MiB per instance; "
            f"{mem_available_kib() / 1024 / 1024:.1f} GiB still available"
        )
        # --- costs ---------------------------------------------------------------------------
        server_after = server_costs(a.server_pid)
        per = instance_costs(a.server_pid, len(ids))
        processes = sum(n for n, _ in per.values())
        print(
            f"costs: {processes:.2f} processes per instance ("
            + ", ".join(f"{name} {n:.2f} x, {rss:.1f} MiB RSS" for name, (n, rss) in per.items())
            + "); the server: "
            f"{(server_after['rss_kib'] - server_before['rss_kib']) / len(ids):.1f} KiB RSS, "
            f"{(server_after['fds'] - server_before['fds']) / len(ids):.2f} open files, "
            f"{(server_after['threads'] - server_before['threads']) / len(ids):.2f} threads "
            f"per instance ({server_after['rss_kib'] / 1024:.0f} MiB RSS, "
            f"{server_after['fds']} files, {server_after['threads']} threads in all)"
        )
        # --- idle ----------------------------------------------------------------------------
        hz = 100
        before, t0 = cpu_ticks(a.server_pid), time.monotonic()
        time.sleep(a.idle_seconds)
        ticks, elapsed = cpu_ticks(a.server_pid) - before, time.monotonic() - t0
        idle_cpu = 100 * ticks / hz / elapsed
        print(
            f"idle: the server used {idle_cpu:.2f} % of one core over {elapsed:.0f} s "
            f"with {running} instances and no traffic"
        )
        print(
            json.dumps(
                {
                    "burst_count": a.burst,
                    "burst_wall_s": round(burst_wall, 2),
                    "start_p50_s": round(percentile(times, 50), 2),
                    "start_p99_s": round(percentile(times, 99), 2),
                    "capacity": running,
                    "capacity_answering": answering,
                    "mib_per_instance": round(used_kib / 1024 / len(ids), 1),
                    "idle_cpu_percent": round(idle_cpu, 2),
                    "processes_per_instance": round(processes, 2),
                    "server_kib_per_instance": round(
                        (server_after["rss_kib"] - server_before["rss_kib"]) / len(ids), 1
                    ),
                    "server_fds_per_instance": round(
                        (server_after["fds"] - server_before["fds"]) / len(ids), 2
                    ),
                }
            )
        )


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--app", required=True)
    p.add_argument("--server-pid", type=int, required=True)
    p.add_argument("--burst", type=int, default=100)
    p.add_argument("--capacity", type=int, default=300)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--host-room-mib", type=int, default=2048)
    p.add_argument("--idle-seconds", type=int, default=30)
    p.add_argument("--timeout", type=int, default=600)
    Bench(p.parse_args()).run()


if __name__ == "__main__":
    main()
