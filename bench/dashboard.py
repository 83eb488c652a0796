#!/usr/bin/env python3
"""The dashboard's first screen (issue 17): `GET /ui/dashboard?date=` against the same SQL run one
by one through `POST /v1/query`, on a 1,500- and a 10,000-partition lake, in one run.

    python3 bench/dashboard.py [--runs 30] [--warmup 3] [--lakes 1500,10000] [--rebuild]

Builds nothing: run `cargo build --release -p shoplake -p shoplake-load --bins` first (the bench
scripts build that set). Stdlib only.

Lakes: `1500` is the bench lake of the other scripts (`gen_sales.py --shops 50 --days 30
--rows-per-file 2000`, $DATA/small, shared with query.py); `10000` is 100 shops x 100 days, the
same 2,000 rows per file ($DATA/dash_100x100, 20M rows, 1.7 GB of CSV; generated once, ~1 min).
Each is ingested once with `shoplake ingest --dir` into target/bench/dashboard/<lake>/data and
reused by later runs (`--rebuild` ingests again, e.g. after a change to the lake's layout).

For each lake it starts the release `shoplake serve` on a free 127.0.0.1 port (killed whatever
happens, see served.py) and, on one keep-alive connection with an analyst bearer token:
  - renders the dashboard once for the lake's last day and takes the statements it ran from the
    page: each widget's SQL from the `<pre>` under "How this is computed" (HTML-unescaped), plus
    the headline statement, which the page does not show (built here as widgets.rs's
    `headline_sql` builds it; checked against the page's headline sales figure);
  - after --warmup rounds, runs --runs rounds of four, in two orders that alternate between
    rounds (so drift on the shared 2-core machine falls on all alike):
      kept        a dashboard request over unchanged partitions (the widget answers are kept);
      cold        the same after the catalog records a change to one of the day's partitions
                  (its revision bumped in the lake's SQLite, as an upload would): every widget
                  runs its statement, planned from the catalog;
      cold_listed the same with the catalog's file versions cleared for the request, so the
                  engine lists `processed/` as it did before issue 18 (and as it does for a Glue
                  catalog), restored afterwards (a recorded change, as a crawl's);
      one_by_one  the same statements one by one through `POST /v1/query` (never kept);
  - probes what a statement costs before it reads a row: `SELECT 1` (session set-up, catalog
    lookup of the table's schema) and a count on a day with no partition, planned from the
    catalog and with `processed/` listed;
  - reads the server's peak RSS (VmHWM of /proc/PID/status): over the whole run, then (reset
    through /proc/PID/clear_refs) over 5 dashboard requests and over 5 one-by-one passes; memory
    the allocator kept from earlier phases counts in the later ones, so the whole-run peak is
    the figure to quote.

Times are wall time from the client on 127.0.0.1, request sent to last byte read (so they include
HTTP, HTML rendering or JSON encoding). For one by one, a "page" is the sum of the statements'
times; the engine's own `stats.elapsed_ms` is summed beside it. Ratio = dashboard / one by one
(below 1: running the widgets at once pays). Prints one JSON line per lake, then a table.
"""
import argparse, datetime, decimal, html, json, os, re, shutil, sqlite3, statistics, subprocess, sys, time

from served import BIN, Served

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GEN = os.path.join(ROOT, "tests", "fixtures", "gen_sales.py")
CACHE = os.path.join(ROOT, "target", "bench", "dashboard")
LAKES = {  # name: (folder under $DATA, shops, days, rows per file)
    "1500": ("small", 50, 30, 2000),
    "10000": ("dash_100x100", 100, 100, 2000),
}
TRANSACTIONS = "COUNT(DISTINCT concat(shop_id, '/', transaction_id))"


def headline_sql(day):
    """widgets.rs `headline_sql(date, None)`: the day and its four earlier same weekdays."""
    dates = ", ".join(f"'{day - datetime.timedelta(days=7 * week)}'" for week in range(5))
    return (f"SELECT date, currency, SUM(price * quantity) AS sales, {TRANSACTIONS} AS transactions, "
            f"SUM(quantity) AS units FROM sales_processed WHERE date IN ({dates}) GROUP BY date, currency "
            f"ORDER BY currency, date")


def pct(values, q):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-int(q * 100) * len(ordered) // 100) - 1))]


def summary(values):
    return {"median_ms": round(statistics.median(values), 1), "p95_ms": round(pct(values, 0.95), 1),
            "min_ms": round(min(values), 1), "max_ms": round(max(values), 1)}


def lake_source(name):
    folder, shops, days, rows = LAKES[name]
    src = os.path.join(os.environ.get("DATA", "/tmp/perfdata"), folder)
    if not os.path.isdir(os.path.join(src, f"shop_{shops:03d}")):
        print(f"generating {src} ({shops} shops x {days} days x {rows} rows)", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, GEN, "--out", src, "--shops", str(shops), "--days", str(days),
                        "--rows-per-file", str(rows)], check=True, stdout=subprocess.DEVNULL)
    last = max(f[:-4] for f in os.listdir(os.path.join(src, "shop_001")) if f.endswith(".csv"))
    return src, datetime.date.fromisoformat(last)


def lake_data(name, src, rebuild):
    """The ingested data directory of a lake, ingested once (marker file written last)."""
    home = os.path.join(CACHE, name)
    marker = os.path.join(home, "ingested.json")
    if rebuild or not os.path.exists(marker):
        shutil.rmtree(home, ignore_errors=True)
        os.makedirs(home)
        print(f"ingesting {src} into {home}/data", file=sys.stderr, flush=True)
        started = time.perf_counter()
        Served(os.path.join(home, "data")).ingest_dir(src)
        with open(marker, "w") as f:
            json.dump({"source": src, "binary": BIN, "seconds": round(time.perf_counter() - started, 1),
                       "at": datetime.datetime.now().isoformat(timespec="seconds")}, f)
    return os.path.join(home, "data"), json.load(open(marker))


class Catalog:
    """The lake's embedded catalog (SQLite), changed the way the service would see it change."""

    def __init__(self, data):
        self.db = sqlite3.connect(os.path.join(data, "shoplake.db"), timeout=30, isolation_level=None)
        self.versions = self.db.execute(
            "select shop_id, sales_date, file_version from catalog_partitions").fetchall()

    def touch(self, day):
        """One partition of `day` recorded as replaced (what an upload's commit does to it)."""
        self.db.execute("update catalog_partitions set revision = revision + 1 where sales_date = ? and "
                        "shop_id = (select min(shop_id) from catalog_partitions where sales_date = ?)",
                        (str(day), str(day)))

    def clear_versions(self):
        self.db.execute("update catalog_partitions set file_version = null")

    def restore_versions(self, day):
        """Versions back, recorded as a change (as a crawl would), so the engine reads them again."""
        self.db.executemany("update catalog_partitions set file_version = ? where shop_id = ? and sales_date = ?",
                            [(v, shop, date) for shop, date, v in self.versions])
        self.touch(day)


def peak_reset(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS


def status_kb(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure(name, args):
    src, day = lake_source(name)
    data, ingested = lake_data(name, src, args.rebuild)
    partitions = sum(len(fs) for _, _, fs in os.walk(os.path.join(src)))
    with Served(data) as server:
        pid = server.server.pid
        token = server.token("--role", "analyst", "--sub", "bench")
        auth = {"Authorization": f"Bearer {token}"}
        conn = server.connect()

        def request(method, path, body=None, headers=None):
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=dict(auth, **(headers or {})))
            response = conn.getresponse()
            payload = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise SystemExit(f"{method} {path}: HTTP {response.status}: {payload[:500]!r}")
            return elapsed, payload

        def dashboard():
            return request("GET", f"/ui/dashboard?date={day}")

        def query(sql):
            elapsed, payload = request("POST", "/v1/query", json.dumps({"sql": sql}),
                                       {"Content-Type": "application/json"})
            return elapsed, json.loads(payload)

        idle_kb = status_kb(pid, "VmRSS")
        _, page = dashboard()
        page = page.decode()
        keys = re.findall(r'<table id="([a-z_]+)-table"', page)
        widget_sql = [html.unescape(s) for s in
                      re.findall(r"<summary>How this is computed</summary><p>.*?</p><pre>(.*?)</pre>", page, re.S)]
        statements = {"headline": headline_sql(day)}
        statements.update(zip([k for k in keys if k != "missing"], widget_sql))
        if len(statements) != 6:
            raise SystemExit(f"expected 6 statements on the page, found {list(statements)}")

        # The one-by-one answers are the page's: headline sales, and the row count of each table
        # that shows its statement's rows as they come (the trend reshapes its rows).
        answers = {key: query(sql)[1] for key, sql in statements.items()}
        shown = decimal.Decimal(re.search(r'<p class="big" data-value="([^"]+)"', page).group(1))
        ours = sum(decimal.Decimal(str(r["sales"])) for r in answers["headline"]["rows"] if r["date"] == str(day))
        if shown != ours:
            raise SystemExit(f"headline sales: page {shown}, headline statement {ours}")
        for key in ("shops", "top_revenue", "top_units", "payments"):
            body = re.search(rf'<table id="{key}-table".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
            if body.count("<tr>") != len(answers[key]["rows"]):
                raise SystemExit(f"{key}: {body.count('<tr>')} rows on the page, {len(answers[key]['rows'])} by query")

        def one_by_one():
            total, engine, per = 0.0, 0.0, {}
            for key, sql in statements.items():
                elapsed, answer = query(sql)
                total += elapsed
                engine += answer["stats"]["elapsed_ms"]
                per[key] = elapsed
            return total, engine, per

        catalog = Catalog(data)

        def cold():
            catalog.touch(day)
            return dashboard()[0]

        def cold_listed():
            catalog.clear_versions()
            try:
                return cold()
            finally:
                catalog.restore_versions(day)

        for _ in range(args.warmup):
            dashboard()
            cold()
            cold_listed()
            one_by_one()
        times = {"kept": [], "cold": [], "cold_listed": []}
        single_ms, engine_ms, per_statement = [], [], {k: [] for k in statements}
        # Two orders, alternating: "kept" never follows "cold_listed" (whose restore is a change).
        orders = (["cold_listed", "cold", "kept", "one_by_one"], ["one_by_one", "kept", "cold_listed", "cold"])
        for i in range(args.runs):
            for kind in orders[i % 2]:
                if kind == "kept":
                    times["kept"].append(dashboard()[0])
                elif kind == "cold":
                    times["cold"].append(cold())
                elif kind == "cold_listed":
                    times["cold_listed"].append(cold_listed())
                else:
                    total, engine, per = one_by_one()
                    single_ms.append(total)
                    engine_ms.append(engine)
                    for key, ms in per.items():
                        per_statement[key].append(ms)
        page_ms = times["cold"]

        probes = {"select_1": [], "empty_day_catalog_planned": [], "empty_day_storage_listed": []}
        empty_day = "1999-01-01"  # no partition: plans (lists) the table, reads no file
        empty = f"SELECT COUNT(*) AS n FROM sales_processed WHERE date = '{empty_day}'"
        for _ in range(args.warmup + 10):
            query("SELECT 1")  # the first statement after a change reads the catalog's files again
            probes["select_1"].append(query("SELECT 1")[0])
            probes["empty_day_catalog_planned"].append(query(empty)[0])
            catalog.clear_versions()
            catalog.touch(day)
            query("SELECT 1")
            probes["empty_day_storage_listed"].append(query(empty)[0])
            catalog.restore_versions(day)
        probes = {k: round(statistics.median(v[args.warmup:]), 1) for k, v in probes.items()}

        peak_run_kb = status_kb(pid, "VmHWM")  # since start: warm-up, timed rounds, probes
        peak_reset(pid)
        for _ in range(5):
            dashboard()
        peak_dashboard_kb = status_kb(pid, "VmHWM")
        peak_reset(pid)
        for _ in range(5):
            one_by_one()
        peak_single_kb = status_kb(pid, "VmHWM")

    result = {
        "job": "dashboard", "lake": name, "partitions": partitions, "rows_per_file": LAKES[name][3],
        "date": str(day), "runs": args.runs, "ingest_s": ingested["seconds"],
        "dashboard_kept": summary(times["kept"]), "dashboard_cold": summary(times["cold"]),
        "dashboard_cold_listed": summary(times["cold_listed"]), "one_by_one_sum": summary(single_ms),
        "one_by_one_engine_sum": summary(engine_ms),
        "ratio_cold_to_one_by_one": round(statistics.median(page_ms) / statistics.median(single_ms), 2),
        "ratio_cold_to_cold_listed": round(statistics.median(page_ms) / statistics.median(times["cold_listed"]), 2),
        "ratio_kept_to_cold": round(statistics.median(times["kept"]) / statistics.median(page_ms), 3),
        "per_statement_median_ms": {k: round(statistics.median(v), 1) for k, v in per_statement.items()},
        "scanned": {k: {f: a["stats"][f] for f in ("partitions_scanned", "files_scanned", "bytes_scanned")}
                    for k, a in answers.items()},
        "probe_median_ms": probes,
        "rss_mb": {"idle": round(idle_kb / 1024), "peak_whole_run": round(peak_run_kb / 1024),
                   "peak_dashboard": round(peak_dashboard_kb / 1024),
                   "peak_one_by_one": round(peak_single_kb / 1024)},
        "page_bytes": len(page), "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result), flush=True)
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--lakes", default="1500,10000", help="comma-separated: 1500, 10000")
    parser.add_argument("--rebuild", action="store_true", help="ingest the lakes again")
    args = parser.parse_args()
    results = [measure(name, args) for name in args.lakes.split(",")]
    print()
    print("| lake | kept, median / p95 ms | cold, planned from the catalog | cold, processed/ listed "
          "| one by one, sum per page | cold / listed | cold / one by one | server peak RSS (idle) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        k, c, l, s, m = (r["dashboard_kept"], r["dashboard_cold"], r["dashboard_cold_listed"], r["one_by_one_sum"],
                         r["rss_mb"])
        print(f"| {r['partitions']:,} partitions x {r['rows_per_file']:,} rows | {k['median_ms']} / {k['p95_ms']} "
              f"| {c['median_ms']} / {c['p95_ms']} | {l['median_ms']} / {l['p95_ms']} | {s['median_ms']} / {s['p95_ms']} "
              f"| {r['ratio_cold_to_cold_listed']} | {r['ratio_cold_to_one_by_one']} "
              f"| {m['peak_whole_run']} MB ({m['idle']}) |")


if __name__ == "__main__":
    main()
