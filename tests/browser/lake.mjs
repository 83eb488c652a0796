// A real `shoplake serve` on 127.0.0.1 over a lake made by `shoplake ingest` from generated
// files, for the browser tests. Every process it starts is killed when the tests end, pass or
// fail.

import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const root = path.resolve(import.meta.dirname, "../..");
const binary = process.env.SHOPLAKE_BIN ?? path.join(root, "target/debug/shoplake");
const started = [];
process.on("exit", () => { for (const child of started) child.kill("SIGKILL"); });

async function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Generates `shops` shops × `days` days, leaves out shop 003's last day, ingests, serves. */
export async function startLake({ shops = 4, days = 35, rows = 60 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shoplake-browser-"));
  const files = path.join(dir, "files");
  execFileSync("python3", [path.join(root, "tests/fixtures/gen_sales.py"), "--out", files, "--shops", String(shops),
    "--days", String(days), "--rows-per-file", String(rows), "--start-date", "2025-06-26"]);
  const last = fs.readdirSync(path.join(files, "shop_003")).sort().at(-1);
  fs.rmSync(path.join(files, "shop_003", last));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // The service refuses SHOPLAKE_* variables it does not know: pass only its own.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("SHOPLAKE_")));
  const env = {
    ...inherited,
    SHOPLAKE_STORAGE: path.join(dir, "data"),
    SHOPLAKE_JWT_SECRET: "browser-test-secret-browser-test-secret",
    SHOPLAKE_EARLIEST_SALES_DATE: "2020-01-01",
    SHOPLAKE_LISTEN: `127.0.0.1:${port}`,
    SHOPLAKE_LOG: "warn",
  };
  try {
    execFileSync(binary, ["ingest", "--dir", files], { env, stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    throw new Error(`shoplake ingest failed: ${error.stdout}\n${error.stderr}`);
  }
  const server = spawn(binary, ["serve"], { env, stdio: "ignore" });
  started.push(server);
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  const token = (...args) => execFileSync(binary, ["token", ...args], { env }).toString().trim();
  return {
    base, dir, files, token,
    stop() { server.kill("SIGKILL"); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

/** A headless Chromium (Debian's) with a fresh profile; `options` go to the context. */
export async function browser(options = {}) {
  const { chromium } = await import("playwright-core");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "shoplake-chromium-"));
  const executablePath = process.env.CHROMIUM ?? "/usr/lib/chromium/chromium";
  const context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu"],
    viewport: { width: 1280, height: 900 }, acceptDownloads: true, ...options,
  });
  return { context, close: async () => { await context.close(); fs.rmSync(profile, { recursive: true, force: true }); } };
}

/** Opens a page that records page errors and every request to another origin. */
export async function watchedPage(context, base) {
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error}`));
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(base) && !url.startsWith("data:") && !url.startsWith("blob:")) problems.push(`request to ${url}`);
  });
  return { page, problems };
}
