#!/usr/bin/env python3
"""The attacks of issue 14 against one shoplake build, each on a fresh server: what the attacker
got back, how long it took, the server's peak RSS (VmHWM), whether it survived, and how long
/healthz took while the attack ran. Run it against two builds in one session to compare
(before/after); the server runs under `ulimit -v` (default 8 GiB) so that a build without the
bounds dies instead of the machine.

    bench/hostile.py [--bin target/release/shoplake] [--vm-gib 8] [attack ...]

Prints one JSON line per attack. Attacks: wide_header gzip_record_bomb deep_sql repeat_sql
cross_join nested_array wide_select methods silent_sockets unclosed_quote slow_shop wide_schema
"""
import argparse, gzip, http.client, json, os, socket, subprocess, tempfile, threading, time, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = "transaction_id,sold_at,sku,product_name,quantity,unit_price,currency,payment_method"


class Server:
    def __init__(self, binary, vm_gib, extra_env=None):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="hostile-")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.env = dict(os.environ, SHOPLAKE_LISTEN=f"127.0.0.1:{self.port}", SHOPLAKE_STORAGE=self.dir + "/data",
                        SHOPLAKE_JWT_SECRET="bench-secret-bench-secret-bench-secret", SHOPLAKE_LOG="error")
        self.env.update(extra_env or {})
        command = f"ulimit -v {vm_gib * 1024 * 1024}; exec {binary} serve"
        self.proc = subprocess.Popen(["bash", "-c", command], env=self.env, cwd=self.dir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            if self.health() is not None:
                break
            time.sleep(0.05)

    def token(self, *args):
        return subprocess.run([self.binary, "token", *args, "--ttl", "1h"], env=self.env, cwd=self.dir, check=True,
                              capture_output=True, text=True).stdout.strip()

    def request(self, method, path, body=None, headers=None, timeout=120):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            return None, str(error).encode()
        finally:
            conn.close()

    def health(self, timeout=5):
        started = time.monotonic()
        status, _ = self.request("GET", "/healthz", timeout=timeout)
        return round(time.monotonic() - started, 3) if status == 200 else None

    def peak_rss_mb(self, field="VmHWM:"):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(field):
                        return round(int(line.split()[1]) / 1024)
        except (OSError, ValueError):
            return None

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["rm", "-rf", self.dir])


def upload(server, shop, token, body, date="2025-07-30", extra=None):
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    headers.update(extra or {})
    return server.request("POST", f"/v1/shops/{shop}/uploads?date={date}", body=body, headers=headers)


def query(server, token, sql, timeout=90):
    """Gives up after `timeout` s (a build without the bounds may never answer)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return server.request("POST", "/v1/query", body=json.dumps({"sql": sql}), headers=headers, timeout=timeout)


def gzip_bomb(prefix, chunk, times):
    """A gzip body of prefix, then chunk `times` times (copies of one deflate piece)."""
    def piece(data):
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    body = bytearray(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")
    body += piece(prefix)
    one = piece(chunk)
    for _ in range(times):
        body += one
    body += b"\x03\x00" + b"\x00" * 8
    return bytes(body)


def while_attacking(server, attack):
    """Runs attack() in a thread; samples /healthz and the server's RSS until it ends.
    Returns (result, worst healthz s, largest RSS sampled in MB: known even if the server dies)."""
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", attack()))
    thread.start()
    worst, largest = 0.0, 0
    time.sleep(0.2)
    while thread.is_alive():
        largest = max(largest, server.peak_rss_mb("VmRSS:") or 0)
        latency = server.health(timeout=30)
        worst = max(worst, latency if latency is not None else 30.0)
        thread.join(0.2)
    return box.get("result"), worst, largest


def attack_wide_header(server):
    token = server.token("--role", "shop", "--shop-id", "001")
    columns = ",".join(f"c{i}" for i in range(100_000))
    body = f"{HEADER},{columns}\n{',' * 100_007}\n"
    return upload(server, "001", token, body)


def attack_gzip_record_bomb(server):
    token = server.token("--role", "shop", "--shop-id", "001")
    body = gzip_bomb(f"{HEADER}\nT1,2025-07-30T10:00:00,".encode(), b"a" * (1 << 20), 10 << 10)
    return upload(server, "001", token, body)


def attack_deep_sql(server):
    return query(server, server.token("--role", "analyst"), "SELECT " + "+".join(["1"] * 1000))


def attack_repeat_sql(server):
    return query(server, server.token("--role", "analyst"), "SELECT length(repeat('a', 2000000000)) AS n")


def seeded(server, rows):
    token = server.token("--role", "shop", "--shop-id", "001")
    lines = [HEADER] + [f"T{i},2025-07-30T10:{i % 60:02}:00,SKU{i % 500},Olive oil,1,3.49,EUR,card" for i in range(rows)]
    status, _ = upload(server, "001", token, "\n".join(lines) + "\n")
    assert status == 201, status


def attack_cross_join(server):
    seeded(server, 200_000)
    sql = "SELECT COUNT(*) FROM sales_processed a, sales_processed b, sales_processed c WHERE a.quantity + b.quantity + c.quantity = 7"
    return query(server, server.token("--role", "analyst"), sql)


def attack_nested_array(server):
    sql = "SELECT " + "ARRAY[" * 48 + "1 +" + "]" * 48
    return query(server, server.token("--role", "analyst"), sql)


def attack_wide_select(server):
    sql = "SELECT " + ",".join(str(i) for i in range(100_000))
    return query(server, server.token("--role", "analyst"), sql)


def attack_methods(server):
    for i in range(20_000):
        server.request(f"X{i:05}", "/healthz")
    status, body = server.request("GET", "/metrics")
    return status, f"/metrics is {len(body)} bytes".encode()


def attack_silent_sockets(server):
    sockets = []
    for _ in range(5000):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", server.port), timeout=5))
        except OSError:
            break
    time.sleep(2)
    latency = server.health(timeout=30)
    rss = server.peak_rss_mb()
    for s in sockets:
        s.close()
    return 200 if latency is not None else None, f"{len(sockets)} sockets open; healthz {latency}s; rss {rss} MB".encode()


def attack_unclosed_quote(server, mb=100):
    token = server.token("--role", "shop", "--shop-id", "001")
    row = "T9,2025-07-30T10:02:00,SKU9,Bread,1,1.20,EUR,cash\n"
    body = f"{HEADER}\nT1,2025-07-30T10:00:00,SKU1,\"Olive oil,1,3.49,EUR,card\n" + row * ((mb << 20) // len(row))
    return upload(server, "001", token, body)


def attack_slow_shop(server):
    token_a = server.token("--role", "shop", "--shop-id", "hostile")
    token_b = server.token("--role", "shop", "--shop-id", "other")
    stop = threading.Event()

    def slow_client():
        while not stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
                s.sendall((f"POST /v1/shops/hostile/uploads?date=2025-07-30 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token_a}\r\n"
                           "Content-Type: text/csv\r\nContent-Length: 100000\r\n\r\n").encode())
                while not stop.is_set():
                    s.sendall(b"a")
                    time.sleep(1)
            except OSError:
                time.sleep(0.1)

    threads = [threading.Thread(target=slow_client, daemon=True) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(3)
    statuses = []
    for day in range(1, 9):
        lines = [HEADER] + [f"T{i},2025-07-0{day}T10:00:00,SKU1,Oil,1,3.49,EUR,card" for i in range(20)]
        statuses.append(upload(server, "other", token_b, "\n".join(lines) + "\n", date=f"2025-07-0{day}")[0])
    stop.set()
    ok = sum(1 for s in statuses if s == 201)
    return 201 if ok == 8 else 503, f"other shop: {ok} of 8 uploads accepted ({statuses})".encode()


def attack_wide_schema(server):
    token = server.token("--role", "shop", "--shop-id", "001")
    columns = ",".join(f"c{i}" for i in range(20_000))
    status, body = upload(server, "001", token, f"{HEADER},{columns}\nT1,2025-07-30T10:00:00,SKU1,Oil,1,3.49,EUR,card{',' * 20_000}\n")
    started = time.monotonic()
    q_status, _ = query(server, server.token("--role", "analyst"), "SELECT * FROM sales_processed LIMIT 1")
    return status, f"upload {status}; SELECT * LIMIT 1: {q_status} in {time.monotonic() - started:.1f}s".encode()


ATTACKS = {name[len("attack_"):]: fn for name, fn in globals().items() if name.startswith("attack_")}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "shoplake"))
    parser.add_argument("--vm-gib", type=int, default=8)
    parser.add_argument("attacks", nargs="*", default=list(ATTACKS))
    args = parser.parse_args()
    for name in args.attacks:
        server = Server(args.bin, args.vm_gib)
        started = time.monotonic()
        (status, body), worst_health, sampled_rss = while_attacking(server, lambda: ATTACKS[name](server))
        seconds = round(time.monotonic() - started, 2)
        alive = server.alive()
        print(json.dumps({"attack": name, "bin": args.bin, "status": status, "seconds": seconds,
                          "peak_rss_mb": server.peak_rss_mb() if alive else None, "sampled_rss_mb": sampled_rss,
                          "survived": alive,
                          "worst_healthz_s": worst_health, "answer": body[:300].decode(errors="replace")}), flush=True)
        server.stop()


if __name__ == "__main__":
    main()
