"""Load on the explorer: concurrent clients against `/api/cooccur` and the fact view for a
bounded time, on localhost; requests/s, p50/p99 latency and errors.

    python -m benchmarks.bench_serve [--clients 8] [--seconds 10]

The server is `factroots serve` (uvicorn, one process) on the English shared sample's index and
its words trace; clients are threads of this process with one keep-alive httpx connection each,
asking English mLAMA fact pairs in turn. Clients and server share the machine's two cores, so
the figures are what one machine does as both ends.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "data"
WORK = HERE / "work" / "serve"
PORT = 8799
TARGET_RPS, TARGET_P99_MS = 2000, 50.0


def prepared() -> tuple[Path, Path, list]:
    """The English sample's index and words trace (built once), and its facts."""
    from factroots.indexer.builder import build_index
    from factroots.mlama import load_language
    from factroots.search import FactIndex
    from factroots.search.trace import trace_languages

    root, trace = WORK / "root", WORK / "trace.parquet"
    if not FactIndex.exists(root, "en"):
        build_index(SHARED / "wikiextractor" / "en", "en", root)
    if not trace.is_file():
        trace_languages(SHARED / "mlama1.1", root, ["en"], "words", out=trace)
    return root, trace, load_language(SHARED / "mlama1.1", "en").facts


def load(url_of, clients: int, seconds: float) -> tuple[int, int, list[float]]:
    """Requests done, errors, and every latency (s), from `clients` threads for `seconds`."""
    import httpx

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        mine, bad, i = [], 0, k
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=10) as http:
            while time.monotonic() < stop:
                started = time.perf_counter()
                response = http.get(url_of(i))
                mine.append(time.perf_counter() - started)
                bad += response.status_code != 200
                i += clients
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), errors[0], latencies


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=HERE / "results_serve.md")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    root, trace, facts = prepared()
    server = subprocess.Popen(
        [sys.executable, "-m", "factroots", "serve", "--root", str(root), "--trace", str(trace)]
        + ["--port", str(PORT)],
        stderr=subprocess.DEVNULL,
    )
    try:
        import httpx

        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{PORT}/api/languages", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        pairs = [(f.subject, f.object) for f in facts]
        uuids = [f.uuid for f in facts]

        def cooccur(show: int):
            def url_of(i: int) -> str:
                subject, obj = pairs[i % len(pairs)]
                query = httpx.QueryParams(lang="en", subject=subject, object=obj, show=show)
                return f"/api/cooccur?{query}"

            return url_of

        runs = {
            "cooccur, show=0": cooccur(0),
            "cooccur, show=3": cooccur(3),
            "fact view": lambda i: f"/api/facts/{uuids[i % len(uuids)]}",
        }
        rows = []
        for name, url_of in runs.items():
            load(url_of, args.clients, 1.0)  # warm-up: indexes opened, code paths run once
            done, errors, latencies = load(url_of, args.clients, args.seconds)
            ms = np.array(latencies) * 1000
            rows.append(
                (
                    name,
                    done / args.seconds,
                    float(np.percentile(ms, 50)),
                    float(np.percentile(ms, 99)),
                    errors,
                )
            )
    finally:
        server.terminate()
        server.wait(10)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    table = "\n".join(
        f"| {name} | {rps:,.0f} | {p50:.1f} ms | {p99:.1f} ms | {errors} |"
        for name, rps, p50, p99, errors in rows
    )
    cooccur = rows[0]
    verdict = (
        "met"
        if cooccur[1] >= TARGET_RPS and cooccur[3] <= TARGET_P99_MS and not cooccur[4]
        else "**missed**"
    )
    text = f"""# Explorer load

Written by `python -m benchmarks.bench_serve --clients {args.clients} --seconds {args.seconds:g}`;
commit {commit}; {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; {platform.machine()},
{os.cpu_count()} cores; load average at the end {os.getloadavg()[0]:.1f}. Server: `factroots serve`
(uvicorn, one process) on the English shared sample's index; {args.clients} client threads in
another process, keep-alive connections, {args.seconds:g} s per row after a 1 s warm-up.

| requests | requests/s | p50 | p99 | errors |
|---|---|---|---|---|
{table}

Target for cooccur (≥ {TARGET_RPS:,} requests/s, p99 ≤ {TARGET_P99_MS:.0f} ms, 0 errors): {verdict}.
What bounds it: FastAPI runs each request's handler in its thread pool and uvicorn parses HTTP
in Python; the clients (httpx, Python threads) take a large share of the same two cores.
"""
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
