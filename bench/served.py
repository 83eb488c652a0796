"""A release `shoplake serve` on a free 127.0.0.1 port over a data directory, for the HTTP benches.

    with Served(data_dir) as server:
        server.ingest_dir(src)                 # optional: `shoplake ingest --dir` into the same data
        token = server.token("--role", "analyst")
        conn = server.connect()                # keep-alive http.client connection
"""
import http.client, os, socket, subprocess, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BENCH_SHOPLAKE_BIN", os.path.join(ROOT, "target", "release", "shoplake"))  # A/B runs (not SHOPLAKE_*: the server refuses unknown SHOPLAKE_ variables)


class Served:
    def __init__(self, data_dir):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.env = dict(os.environ, SHOPLAKE_LISTEN=f"127.0.0.1:{self.port}", SHOPLAKE_STORAGE=data_dir,
                        SHOPLAKE_JWT_SECRET="bench-secret-bench-secret-bench-secret", SHOPLAKE_LOG="warn")
        self.server = None

    def ingest_dir(self, src):
        """`shoplake ingest --dir SRC` into this data directory (before or while serving)."""
        subprocess.run([BIN, "ingest", "--dir", src], env=self.env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def token(self, *args):
        return subprocess.run([BIN, "token", *args, "--ttl", "1h"], env=self.env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def connect(self):
        return http.client.HTTPConnection("127.0.0.1", self.port)

    def __enter__(self):
        self.server = subprocess.Popen([BIN, "serve"], env=self.env)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise SystemExit("shoplake serve did not start")

    def __exit__(self, *exc):
        self.server.terminate()
        self.server.wait()
