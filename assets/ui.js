// shoplake reporting pages: sign in from a link, sortable tables, charts drawn from the tables
// beside them, and the shop page's drop zone. No framework; everything works without it too
// (tables and forms are plain HTML).
"use strict";

// A sign-in link carries the token after '#': it never reaches the server or its logs. The
// form posts it, and the fragment is removed from the address bar and history first.
function signInFromLink() {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  const form = document.getElementById("signin");
  if (!match || !form) return;
  history.replaceState(null, "", window.location.pathname + window.location.search);
  form.querySelector("#token").value = decodeURIComponent(match[1]);
  form.submit();
}

// Clicking a column heading sorts its table (numbers as numbers, by the exact data-value).
function sortableTables() {
  for (const table of document.querySelectorAll("table.sortable")) {
    for (const button of table.querySelectorAll("th button[data-sort]")) {
      const heading = button.closest("th");
      heading.setAttribute("aria-sort", "none");
      button.addEventListener("click", () => {
        const column = Number(button.dataset.sort);
        const numeric = heading.classList.contains("num");
        const ascending = heading.getAttribute("aria-sort") !== "ascending";
        for (const other of table.querySelectorAll("th[aria-sort]")) other.setAttribute("aria-sort", "none");
        heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const body = table.tBodies[0];
        const rows = Array.from(body.rows);
        const key = (row) => row.cells[column].dataset.value ?? row.cells[column].textContent;
        rows.sort((a, b) => {
          const x = key(a), y = key(b);
          const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
          return ascending ? order : -order;
        });
        for (const row of rows) body.appendChild(row);
      });
    }
  }
}

// Each chart draws the table named by its data-table: labels from the first column (and the
// currency, when there is one), one data set per numeric column.
function charts() {
  if (typeof Chart === "undefined") return;
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const table = document.getElementById(canvas.dataset.table);
    if (!table) continue;
    const headings = Array.from(table.tHead.rows[0].cells);
    const numeric = headings.map((th) => th.classList.contains("num"));
    const currencyColumn = headings.findIndex((th) => th.textContent.trim() === "Currency");
    const rows = Array.from(table.tBodies[0].rows);
    const labels = rows.map((row) => {
      const first = row.cells[0].textContent.trim();
      return currencyColumn > 0 ? `${first} ${row.cells[currencyColumn].textContent.trim()}` : first;
    });
    const firstNumeric = numeric.indexOf(true);
    const datasets = headings
      .map((th, i) => ({ th, i }))
      .filter(({ i }) => numeric[i] && (canvas.dataset.chart === "line" || i === firstNumeric))
      .map(({ th, i }, n) => ({
        label: th.textContent.trim(),
        // A blank cell (no data that day) is a gap in the line, not a zero.
        data: rows.map((row) => (row.cells[i].dataset.value === "" ? null : Number(row.cells[i].dataset.value))),
        borderWidth: n === 0 ? 2 : 1,
        borderDash: n === 0 ? [] : [4, 4],
      }));
    new Chart(canvas, {
      type: canvas.dataset.chart,
      data: { labels, datasets },
      options: { responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { display: datasets.length > 1 } } },
    });
    canvas.dataset.ready = "true";
  }
}

// The shop page's form: a file dropped on the zone goes into the file input; "check only"
// asks the API for a dry run (nothing stored), "upload" sends it; the answer is shown below.
function sendForm() {
  const form = document.getElementById("send");
  if (!form) return;
  const input = document.getElementById("send-file");
  const zone = document.getElementById("drop");
  const output = document.getElementById("send-result");
  // A file named like its day (`2025-07-30.csv`) sets the day.
  input.addEventListener("change", () => {
    const named = input.files[0] && /(\d{4}-\d{2}-\d{2})/.exec(input.files[0].name);
    if (named) document.getElementById("send-date").value = named[1];
  });
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length > 0) {
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const check = event.submitter && event.submitter.value === "check";
    const file = input.files[0];
    if (!file) { output.textContent = "Choose a file first."; return; }
    const date = document.getElementById("send-date").value;
    const body = new FormData();
    body.append("file", file, file.name);
    const url = `/v1/shops/${encodeURIComponent(form.dataset.shop)}/uploads?date=${encodeURIComponent(date)}` +
      (check ? "&dry_run=true" : "");
    output.textContent = check ? "Checking…" : "Uploading…";
    try {
      const response = await fetch(url, { method: "POST", body, credentials: "same-origin" });
      const report = await response.json();
      output.replaceChildren(describe(report, check, response.ok));
    } catch (error) {
      output.textContent = `The file could not be sent: ${error}`;
    }
  });
}

// A report (an upload, a dry run, or a problem document) as a few lines and a table of errors.
function describe(report, check, ok) {
  const box = document.createElement("div");
  const line = (text) => { const p = document.createElement("p"); p.textContent = text; box.appendChild(p); };
  if (!ok && report.title) line(`${report.title}: ${report.detail || ""}`);
  else {
    const status = report.status || (check ? "checked" : "sent");
    line(`${check ? "Check" : "Upload"}: ${status}. Rows: ${report.rows_total ?? "?"} read, ` +
      `${report.rows_accepted ?? "?"} accepted, ${report.rows_rejected ?? "?"} rejected.` +
      (check ? " Nothing was stored." : ""));
    if (report.problem) line(report.problem);
    if (report.schema_problem) line(report.schema_problem);
    const added = report.new_columns || [];
    if (added.length > 0) line(`The table would gain ${added.map((c) => `${c.name} (${c.type})`).join(", ")}.`);
  }
  const errors = report.errors || [];
  if (errors.length > 0) {
    const table = document.createElement("table");
    table.id = "send-errors";
    const head = table.createTHead().insertRow();
    for (const name of ["Line", "Column", "Value", "Reason"]) {
      const th = document.createElement("th"); th.scope = "col"; th.textContent = name; head.appendChild(th);
    }
    const tbody = table.createTBody();
    for (const e of errors) {
      const row = tbody.insertRow();
      for (const value of [e.line, e.column, e.value, e.reason]) row.insertCell().textContent = value ?? "";
    }
    box.appendChild(table);
  }
  if (!check && ok) {
    const again = document.createElement("a"); again.href = window.location.pathname; again.textContent = "Refresh the list";
    box.appendChild(again);
  }
  return box;
}

document.addEventListener("DOMContentLoaded", () => {
  signInFromLink();
  sortableTables();
  charts();
  sendForm();
});
