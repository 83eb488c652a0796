// The reporting pages in a real browser: Debian's Chromium driven by playwright-core against a
// real `shoplake serve` over a lake made by `shoplake ingest`. Run by scripts/test.sh
// (`node --test tests/browser/`).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { browser, root, startLake, watchedPage } from "./lake.mjs";

let lake;
let chrome;

before(async () => {
  lake = await startLake();
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
  lake?.stop();
});

/** Waits until every chart on the page has drawn, plus two frames for the resize to settle. */
async function chartsDrawn(page) {
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll("canvas[data-chart]")).every((c) => c.dataset.ready === "true"));
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

test("an analyst signs in by link and sees every table with its chart drawn from it", async () => {
  const { page, problems } = await watchedPage(chrome.context, lake.base);
  await page.goto(lake.token("--role", "analyst", "--link", lake.base));
  await page.waitForURL("**/ui/dashboard");
  assert.equal(new URL(page.url()).hash, "", "the token left the address bar");
  await chartsDrawn(page);

  const charts = await page.evaluate(() => Array.from(document.querySelectorAll("canvas[data-chart]")).map((canvas) => {
    const table = document.getElementById(canvas.dataset.table);
    return { id: canvas.id, labels: Chart.getChart(canvas).data.labels.length, rows: table.tBodies[0].rows.length,
      name: canvas.getAttribute("aria-label"), role: canvas.getAttribute("role") };
  }));
  assert.ok(charts.length >= 5, `charts: ${JSON.stringify(charts)}`);
  for (const chart of charts) {
    assert.equal(chart.labels, chart.rows, `${chart.id}: one chart element per table row`);
    assert.equal(chart.role, "img");
    assert.ok(chart.name.length > 0);
  }
  assert.ok((await page.locator("#shops-table tbody tr").count()) >= 3, "shops that reported");
  assert.equal(await page.locator("#missing-table tbody tr td").first().textContent(), "003", "003 did not report");
  if (process.env.SCREENSHOTS_DIR) await page.screenshot({ path: path.join(process.env.SCREENSHOTS_DIR, "dashboard.png") });
  assert.deepEqual(problems, []);
});

test("a table sorts by the heading clicked, as numbers", async () => {
  const { page, problems } = await watchedPage(chrome.context, lake.base);
  await page.goto(`${lake.base}/ui/dashboard`);
  const values = () => page.$$eval("#shops-table tbody tr td:nth-child(3)", (cells) => cells.map((c) => Number(c.dataset.value)));
  await page.click("#shops-table th:nth-child(3) button");
  const ascending = await values();
  assert.deepEqual(ascending, [...ascending].sort((a, b) => a - b));
  await page.click("#shops-table th:nth-child(3) button");
  const descending = await values();
  assert.deepEqual(descending, [...descending].sort((a, b) => b - a));
  assert.equal(await page.getAttribute("#shops-table th:nth-child(3)", "aria-sort"), "descending");
  assert.deepEqual(problems, []);
});

test("a shop's row opens that shop's figures, and a table downloads as CSV", async () => {
  const { page, problems } = await watchedPage(chrome.context, lake.base);
  await page.goto(`${lake.base}/ui/dashboard`);
  const shop = (await page.locator("#shops-table tbody tr td a").first().textContent()).trim();
  await page.locator("#shops-table tbody tr td a").first().click();
  await page.waitForURL(`**/ui/dashboard/shops/${shop}`);
  await chartsDrawn(page);
  assert.equal(await page.locator("h1").textContent(), `Shop ${shop}`);
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("a", { hasText: "CSV" }).first().click()]);
  const text = fs.readFileSync(await download.path(), "utf8");
  assert.match(text, /^Date,Currency,Sales,/);
  assert.deepEqual(problems, []);
});

test("a shop manager signs in by form, sends a file chosen and a file dropped, and opens rejected rows", async () => {
  const manager = await browser();
  try {
    const { page, problems } = await watchedPage(manager.context, lake.base);
    await page.goto(`${lake.base}/ui/`);
    await page.fill("#token", lake.token("--role", "shop", "--shop-id", "001"));
    await page.click("#signin button[type=submit]");
    await page.waitForURL("**/ui/shops/001");

    // A messy day chosen through the input: its day comes from its name, some rows are rejected.
    const messy = path.join(lake.dir, "2025-08-01.csv");
    const header = "transaction_id,sold_at,sku,product_name,quantity,price,currency,payment_method";
    const rows = Array.from({ length: 40 }, (_, i) => `T${i},2025-08-01T10:${String(i).padStart(2, "0")}:00,SKU1,Milk,1,1.50,EUR,card`);
    rows.push("T99,2025-08-01T11:00:00,SKU1,Milk,one,1.50,EUR,card");
    fs.writeFileSync(messy, `${header}\n${rows.join("\n")}\n`);
    await page.setInputFiles("#send-file", messy);
    assert.equal(await page.inputValue("#send-date"), "2025-08-01", "the day comes from the file name");
    await page.click("#upload");
    await page.waitForFunction(() => document.getElementById("send-result").textContent.includes("Upload:"));
    const result = await page.textContent("#send-result");
    assert.match(result, /succeeded/);
    assert.match(result, /40 accepted, 1 rejected/);

    // The newest upload listed now: a check must not change it.
    await page.reload();
    const newest = () => page.locator("#uploads-table > tbody > tr:first-child").textContent();
    const newestBefore = await newest();
    assert.match(newestBefore, /2025-08-01\.csv/);

    // A file dropped on the zone (the OS cannot drag into a headless browser: a DataTransfer
    // built in the page stands in for it).
    const dropped = fs.readFileSync(path.join(lake.files, "shop_001", "2025-07-02.csv"), "utf8");
    await page.evaluate((text) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([text], "2025-07-02.csv", { type: "text/csv" }));
      const zone = document.getElementById("drop");
      zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, dropped);
    assert.equal(await page.inputValue("#send-date"), "2025-07-02");
    assert.equal(await page.evaluate(() => document.getElementById("send-file").files[0].name), "2025-07-02.csv");

    // "Check only" on the dropped file: the report, and nothing stored (the list is unchanged).
    await page.click("#check");
    await page.waitForFunction(() => document.getElementById("send-result").textContent.includes("Check:"));
    assert.match(await page.textContent("#send-result"), /Check: succeeded\. Rows: 60 read, 60 accepted, 0 rejected\. Nothing was stored\./);
    await page.reload();
    assert.equal(await newest(), newestBefore, "a check adds no upload");

    // The list shows the upload; its rejected rows open with their reasons.
    await page.goto(`${lake.base}/ui/shops/001`);
    const details = page.locator("#uploads-table details").first();
    await details.locator("summary").click();
    assert.match(await details.textContent(), /quantity/);
    if (process.env.SCREENSHOTS_DIR) await page.screenshot({ path: path.join(process.env.SCREENSHOTS_DIR, "shop.png") });
    assert.deepEqual(problems, []);
  } finally {
    await manager.close();
  }
});

test("the pages read without JavaScript: the tables are there", async () => {
  const plain = await browser({ javaScriptEnabled: false });
  try {
    const { page } = await watchedPage(plain.context, lake.base);
    const token = lake.token("--role", "analyst");
    await page.setExtraHTTPHeaders({ authorization: `Bearer ${token}` });
    await page.goto(`${lake.base}/ui/dashboard`);
    for (const id of ["shops-table", "trend-table", "top_revenue-table", "top_units-table", "payments-table"]) {
      assert.ok((await page.locator(`#${id} tbody tr`).count()) > 0, `${id} has rows`);
    }
  } finally {
    await plain.close();
  }
});

test("axe-core finds no serious or critical accessibility violation on either page", async () => {
  const audit = await browser({ bypassCSP: true });
  try {
    const { page } = await watchedPage(audit.context, lake.base);
    const axe = path.join(root, "tests/browser/node_modules/axe-core/axe.min.js");
    for (const [role, where] of [["analyst", "/ui/dashboard"], ["admin", "/ui/shops/001"]]) {
      await page.setExtraHTTPHeaders({ authorization: `Bearer ${lake.token("--role", role)}` });
      await page.goto(`${lake.base}${where}`);
      await page.addScriptTag({ path: axe });
      const violations = await page.evaluate(async () => (await axe.run(document)).violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => `${v.id}: ${v.nodes.length} × ${v.help}`));
      assert.deepEqual(violations, [], where);
    }
  } finally {
    await audit.close();
  }
});
