"""Load on the explorer: concurrent clients against `/api/cooccur` and the fact view for a
bounded time, on localhost; requests/s, p50/p99 latency and errors.

    python -m benchmarks.bench_serve [--clients 8] [--seconds 10]

The server is `factroots serve` (uvicorn, one process, with uvloop and httptools from the
`serve` extra) on the English shared sample's index and its words trace. The clients are `wrk`
(Debian's package, apt-get installed where missing): one thread, `--clients` keep-alive
connections, asking English mLAMA fact pairs in turn (benchmarks/serve_load.lua). Where wrk
cannot be had, threads of this process with one httpx connection each (a far heavier client,
named in the results). Clients and server share the machine's two cores, so the figures are
what one machine does as both ends.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "data"
WORK = HERE / "work" / "serve"
PORT = 8799
TARGET_RPS, TARGET_P99_MS = 2000, 50.0
WARM_UP_URLS = 2000


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


def wrk_available() -> bool:
    """Whether `wrk` is on the PATH, apt-get installing it first where missing."""
    if shutil.which("wrk") is None and shutil.which("apt-get") is not None:
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True)
    return shutil.which("wrk") is not None


def load(
    url_of, clients: int, seconds: float, wrk: bool, urls: int
) -> tuple[int, int, float, float]:
    """Requests done, errors, p50 and p99 latency (ms) of `clients` connections for
    `seconds`, asking url_of(0), ..., url_of(urls - 1) in turn (then again)."""
    if wrk:
        return _wrk_load(url_of, clients, seconds, urls)
    done, errors, latencies = _thread_load(url_of, clients, seconds)
    import numpy as np

    ms = np.array(latencies) * 1000
    return done, errors, float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _wrk_load(url_of, clients: int, seconds: float, urls: int) -> tuple[int, int, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as paths:
        paths.write("".join(url_of(i) + "\n" for i in range(urls)))
        paths.flush()
        run = subprocess.run(
            ["wrk", "-t1", f"-c{clients}", f"-d{seconds:g}s", "-s", str(HERE / "serve_load.lua")]
            + [f"http://127.0.0.1:{PORT}"],
            env={**os.environ, "WRK_PATHS": paths.name},
            capture_output=True,
            text=True,
            check=True,
        )
    line = next(x for x in run.stdout.splitlines() if x.startswith("WRK "))
    found = json.loads(line[4:])
    return (
        found["requests"],
        found["socket_errors"] + found["non2xx"],
        found["p50_us"] / 1000,
        found["p99_us"] / 1000,
    )


def _thread_load(url_of, clients: int, seconds: float) -> tuple[int, int, list[float]]:
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=HERE / "results_serve.md")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    root, trace, facts = prepared()
    wrk = wrk_available()
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
            # warm-up on the last facts (indexes opened, code paths run once), then every fact
            # in order: a request repeats only past len(facts) (the explorer keeps entities'
            # analyses, so a repeat is cheaper)
            last = lambda i, url_of=url_of: url_of(len(facts) - 1 - i)  # noqa: E731
            load(last, args.clients, 1.0, wrk, WARM_UP_URLS)
            done, errors, p50, p99 = load(url_of, args.clients, args.seconds, wrk, len(facts))
            rows.append((name, done / args.seconds, p50, p99, errors, max(0, done - len(facts))))
    finally:
        server.terminate()
        server.wait(10)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    table = "\n".join(
        f"| {name} | {rps:,.0f} | {p50:.1f} ms | {p99:.1f} ms | {errors} | {repeats:,} |"
        for name, rps, p50, p99, errors, repeats in rows
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
(uvicorn, one process, {server_loop()}) on the English shared sample's index. Clients:
{client_text(wrk, args.clients)}, keep-alive connections, {args.seconds:g} s per row after a 1 s
warm-up, on the same machine. The requests are the {len(facts):,} English facts in order (a
warm-up of the last {WARM_UP_URLS:,} first); "repeated" counts those asked a second time.

| requests | requests/s | p50 | p99 | errors | repeated requests |
|---|---|---|---|---|---|
{table}

Target for cooccur (≥ {TARGET_RPS:,} requests/s, p99 ≤ {TARGET_P99_MS:.0f} ms, 0 errors): {verdict}.
What bounds it: one server process on one core, its Python per request (FastAPI's routing
and validation, the JSON answer; the index's own work for a co-occurrence is ≈ 0.2 ms); the
client takes part of the other core.
"""
    args.out.write_text(text)
    print(text)


def server_loop() -> str:
    """Which event loop and HTTP parser uvicorn picks here ("auto": uvloop and httptools
    where installed)."""
    import importlib.util

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{loop} event loop, {http} HTTP parser"


def client_text(wrk: bool, clients: int) -> str:
    if wrk:
        return f"`wrk` (one thread, {clients} connections) in another process"
    return f"{clients} httpx client threads in another process (wrk was not available)"


if __name__ == "__main__":
    main()
