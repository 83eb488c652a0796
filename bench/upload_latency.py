#!/usr/bin/env python3
"""Request-to-201 latency of 2,000-row uploads over HTTP, one keep-alive client, sequential.

    python3 bench/upload_latency.py [--files 200]

Builds nothing: run `cargo build --release -p shoplake -p shoplake-load --bins` first (the bench scripts build that set). Starts target/release/shoplake on a free port
with a temp data directory, uploads distinct generated shop-day files (2,000 rows each, every
one a real new partition), and prints one JSON line: median, p90, p99 and max in ms.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

from served import Served

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, "tests", "fixtures", "gen_sales.py")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    data = os.environ.get("DATA", "/tmp/perfdata")
    gen_dir = os.path.join(data, f"latency_{args.files}")
    if not os.path.isdir(gen_dir):
        subprocess.run([sys.executable, GEN, "--out", gen_dir, "--shops", "1", "--days", str(args.files),
                        "--rows-per-file", "2000"], check=True, stdout=subprocess.DEVNULL)
    files = sorted(os.path.join(gen_dir, "shop_001", f) for f in os.listdir(os.path.join(gen_dir, "shop_001")))

    work = tempfile.mkdtemp()
    with Served(os.path.join(work, "data")) as server:
        token = server.token("--role", "shop", "--shop-id", "001")
        conn = server.connect()
        latencies = []
        for path in files:
            body = open(path, "rb").read()
            date = os.path.basename(path)[:-4]
            started = time.perf_counter()
            conn.request("POST", f"/v1/shops/001/uploads?date={date}", body=body,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"})
            response = conn.getresponse()
            response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 201:
                raise SystemExit(f"{path}: HTTP {response.status}")
        latencies.sort()
        pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)
        print(json.dumps({"job": "upload-latency", "uploads": len(latencies), "rows_per_upload": 2000,
                          "bytes_per_upload": len(body), "median_ms": round(statistics.median(latencies), 2),
                          "p90_ms": pick(0.90), "p99_ms": pick(0.99), "max_ms": round(latencies[-1], 2)}))


if __name__ == "__main__":
    main()
