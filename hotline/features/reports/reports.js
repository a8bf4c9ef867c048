// The quarterly report page: the report (HTML, from /api/v1/reports/quarterly) in a
// frame, and its downloads (PDF to print, XLSX, CSV, HTML, JSON). No build step.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);

  function url(quarter, fmt, download) {
    const q = new URLSearchParams({quarter, format: fmt});
    if (download) { q.set("download", "1"); }
    return "/api/v1/reports/quarterly?" + q.toString();
  }

  function show() {
    const quarter = $("q-year").value + "Q" + $("q-quarter").value;
    $("report").src = url(quarter, "html", false);
    for (const fmt of ["pdf", "xlsx", "csv", "html", "json"]) {
      $("dl-" + fmt).href = url(quarter, fmt, true);
    }
  }

  function start() {
    const now = new Date(Date.now() + 8 * 3600 * 1000);  // Beijing time
    const year = now.getUTCFullYear();
    for (let y = year; y >= year - 4; y -= 1) {
      const o = document.createElement("option");
      o.value = String(y); o.textContent = y + " 年";
      $("q-year").appendChild(o);
    }
    $("q-quarter").value = String(Math.floor(now.getUTCMonth() / 3) + 1);
    $("pick").addEventListener("submit", (ev) => { ev.preventDefault(); show(); });
    show();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
