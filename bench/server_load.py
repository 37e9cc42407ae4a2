#!/usr/bin/env python3
"""Load run of `flashstream serve` over loopback: C concurrent clients send chat requests for
D seconds; prints JSON with requests/s, latency percentiles, errors and the server's resident
memory after warm-up and at the end (growth would show a leak). Standard library only.

    bench/server_load.py -m MODEL [--cli build/flashstream] [--seconds 60] [--clients 4] [--max-tokens 16]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentile(values, p):
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--cli", default=os.path.join(os.path.dirname(__file__), "..", "build", "flashstream"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--stream-every", type=int, default=2, help="every Nth request streams (0 = none)")
    args = ap.parse_args()

    server = subprocess.Popen([args.cli, "serve", "-m", args.model, "--port", "0", "-t", str(args.threads)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("listening on "):
            sys.exit(f"serve printed {line!r}")
        url = line.split()[-1] + "/v1/chat/completions"

        def request(i, stream):
            body = {"messages": [{"role": "user", "content": f"Give me one fact about the number {i}."}],
                    "max_tokens": args.max_tokens, "temperature": 0.7, "seed": i, "stream": stream}
            req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=300) as r:
                data = r.read()
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
                if stream:
                    if not data.rstrip().endswith(b"data: [DONE]"):
                        raise RuntimeError("stream without [DONE]")
                elif "choices" not in json.loads(data):
                    raise RuntimeError("no choices")

        for i in range(3):  # warm-up: caches, allocator arenas
            request(i, False)
        rss_start = rss_bytes(server.pid)
        latencies, errors, lock = [], [], threading.Lock()
        counter = [0]
        deadline = time.monotonic() + args.seconds

        def client():
            while time.monotonic() < deadline:
                with lock:
                    counter[0] += 1
                    i = counter[0]
                stream = args.stream_every > 0 and i % args.stream_every == 0
                t0 = time.monotonic()
                try:
                    request(i, stream)
                    with lock:
                        latencies.append(time.monotonic() - t0)
                except (urllib.error.URLError, RuntimeError, OSError, ValueError) as e:
                    with lock:
                        errors.append(str(e))

        t0 = time.monotonic()
        workers = [threading.Thread(target=client) for _ in range(args.clients)]
        for w in workers:
            w.start()
        rss_samples = []  # every 10 s: flat means no leak
        next_sample = time.monotonic() + 10
        while any(w.is_alive() for w in workers):
            time.sleep(0.2)
            if time.monotonic() >= next_sample:
                rss_samples.append(round(rss_bytes(server.pid) / 2**20, 1))
                next_sample += 10
        for w in workers:
            w.join()
        elapsed = time.monotonic() - t0
        rss_end = rss_bytes(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)

    print(json.dumps({
        "seconds": round(elapsed, 2), "clients": args.clients, "max_tokens": args.max_tokens,
        "requests": len(latencies), "errors": len(errors), "first_errors": errors[:3],
        "requests_per_second": round(len(latencies) / elapsed, 3),
        "latency_p50_s": round(percentile(latencies, 50), 3), "latency_p99_s": round(percentile(latencies, 99), 3),
        "latency_mean_s": round(statistics.mean(latencies), 3) if latencies else 0,
        "server_rss_after_warmup_mib": round(rss_start / 2**20, 1), "server_rss_end_mib": round(rss_end / 2**20, 1),
        "server_rss_every_10s_mib": rss_samples,
    }, indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
