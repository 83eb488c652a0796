#!/usr/bin/env python3
"""The four peer queries through `POST /v1/query`, next to DuckDB in-process, on one lake.

    PY=/tmp/benchvenv/bin/python; $PY bench/query.py [--runs 9]

Builds nothing: run `cargo build --release -p shoplake -p shoplake-load --bins` first (the bench scripts build that set). Ingests the 1,500-file data set
(`gen_sales.py --shops 50 --days 30 --rows-per-file 2000`, under $DATA, default /tmp/perfdata)
with `shoplake ingest --dir` into a temp lake, starts `shoplake serve` on it, and times each query
from the client (request sent to last byte of the JSON answer, keep-alive connection; one
warm-up, then --runs). DuckDB runs the same queries on the same files in-process with the
team's peer script (`../shared/bench/query.py duckdb`), in the same run. Prints one JSON line per
query: both medians, the ratio, and what our engine reports it scanned.
"""
import argparse, json, os, re, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, "tests", "fixtures", "gen_sales.py")
PEERS = os.environ.get("SHOPLAKE_PEERS", os.path.join(ROOT, "..", "shared", "bench"))
sys.path.insert(0, PEERS)
from common import QUERIES  # noqa: E402  the peers' four queries, on table `sales`
from served import Served  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    data = os.environ.get("DATA", "/tmp/perfdata")
    small = os.path.join(data, "small")
    if not os.path.isdir(os.path.join(small, "shop_050")):
        subprocess.run([sys.executable, GEN, "--out", small, "--shops", "50", "--days", "30",
                        "--rows-per-file", "2000"], check=True, stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp()
    served = Served(os.path.join(work, "data"))
    served.ingest_dir(small)
    peer = subprocess.run([sys.executable, os.path.join(PEERS, "query.py"), "duckdb", os.path.join(work, "data"),
                           "--runs", str(args.runs)], check=True, capture_output=True, text=True, cwd=PEERS)
    duck = json.loads(peer.stdout.strip().splitlines()[-1])

    with served as server:
        token = server.token("--role", "analyst", "--sub", "bench")
        conn = server.connect()

        def post(sql):
            started = time.perf_counter()
            conn.request("POST", "/v1/query", body=json.dumps({"sql": sql}),
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}: {body[:500]!r}")
            return elapsed, json.loads(body)

        for name, sql in QUERIES.items():
            sql = re.sub(r"\bsales\b", "sales_processed", sql)
            post(sql)  # warm-up, as the peer script does
            times, answer = [], None
            for _ in range(args.runs):
                elapsed, answer = post(sql)
                times.append(elapsed)
            ours = statistics.median(times)
            theirs = duck["queries"][name]["median_ms"]
            rows = answer["rows"]
            last = answer["columns"][-1]["name"]
            print(json.dumps({"job": "query-http", "query": name, "shoplake_median_ms": round(ours, 2),
                              "shoplake_min_ms": round(min(times), 2), "duckdb_median_ms": theirs,
                              "ratio_vs_duckdb": round(ours / theirs, 2), "stats": answer["stats"],
                              "rows": len(rows), "sum_last_column": round(sum(float(r[last]) for r in rows), 2) if rows else 0,
                              "duckdb_digest": duck["queries"][name]["digest"], "duckdb": duck["version"]}), flush=True)
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
