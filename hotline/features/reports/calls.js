// The call history page: the search form with paging (a cursor per page, newest first)
// and a day's interval figures per queue, from /api/v1/calls and /api/v1/reports/intervals.
// No build step.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let cursors = [null];   // the cursor of each page shown so far (page 1: none)
  let page = 0;
  let nextCursor = null;
  let filters = null;     // the search as submitted

  function message(text) {
    $("message").textContent = text || "";
    $("message").hidden = !text;
  }

  async function get(path) {
    const res = await fetch("/api/v1" + path, {headers: {"Accept": "application/json"},
                                                credentials: "same-origin"});
    if (res.status === 401) { window.location.href = "/login"; throw new Error("未登录"); }
    const data = await res.json();
    if (!res.ok) { throw new Error(data.message || data.error || String(res.status)); }
    return data;
  }

  function options(select, pairs) {
    const el = $(select);
    for (const [value, label] of pairs) {
      const o = document.createElement("option");
      o.value = value; o.textContent = label;
      el.appendChild(o);
    }
  }

  function today() {
    const d = new Date(Date.now() + 8 * 3600 * 1000);  // Beijing time
    return d.toISOString().slice(0, 10);
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined || text === "" ? "-" : String(text);
    if (cls) { td.className = cls; }
    tr.appendChild(td);
    return td;
  }

  function query(extra) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(filters)) { if (v) { q.set(k, v); } }
    for (const [k, v] of Object.entries(extra || {})) { if (v) { q.set(k, v); } }
    return q.toString();
  }

  async function load() {
    message("");
    let data;
    try {
      data = await get("/calls?" + query({cursor: cursors[page]}));
    } catch (err) { message("查询失败：" + err.message); return; }
    const body = $("results").querySelector("tbody");
    body.textContent = "";
    for (const c of data.calls) {
      const tr = document.createElement("tr");
      tr.dataset.linkedid = c.linkedid;
      cell(tr, (c.started_at || "").slice(0, 19).replace("T", " "));
      const number = cell(tr, (c.caller_number || "未知号码") + (c.masked ? "（保密）" : ""));
      if (c.masked) { number.className = "masked"; }
      cell(tr, c.region);
      cell(tr, c.category_label);
      cell(tr, c.topic_label);
      cell(tr, c.queue_label);
      cell(tr, c.seat_label ? c.seat_label + (c.seat_id && c.seat_id !== c.seat_label ? "（" + c.seat_id + "）" : "") : "");
      cell(tr, c.seat_group_label);
      cell(tr, c.wait_seconds === null ? null : Math.round(c.wait_seconds), "num");
      cell(tr, c.talk_seconds === null ? null : Math.round(c.talk_seconds), "num");
      cell(tr, c.outcome_label);
      cell(tr, c.question);
      body.appendChild(tr);
    }
    nextCursor = data.next;
    $("summary").textContent = "共 " + data.total + " 条，第 " + (page + 1) + " 页";
    $("page-no").textContent = "第 " + (page + 1) + " 页";
    $("prev").disabled = page === 0;
    $("next").disabled = !nextCursor;
    if (!data.calls.length) { $("summary").textContent = "没有符合条件的来电。"; }
  }

  function exports() {
    if ($("exports").hidden) { return; }
    const from = filters.from || today(), to = filters.to || today();
    for (const fmt of ["csv", "xlsx"]) {
      $("export-" + fmt).href = "/api/v1/ledger/export?" + new URLSearchParams(
        {from, to, format: fmt}).toString();
    }
  }

  async function intervals() {
    message("");
    const q = new URLSearchParams({date: $("i-date").value, minutes: $("i-minutes").value});
    if ($("i-queue").value) { q.set("queue", $("i-queue").value); }
    let data;
    try { data = await get("/reports/intervals?" + q.toString()); }
    catch (err) { message("统计失败：" + err.message); return; }
    const body = $("interval-table").querySelector("tbody");
    body.textContent = "";
    let shown = 0;
    for (const row of data.intervals) {
      if (!row.offered && !$("i-all").checked) { continue; }
      const tr = document.createElement("tr");
      cell(tr, row.start + "-" + row.end);
      cell(tr, row.offered, "num");
      cell(tr, row.answered, "num");
      cell(tr, row.abandoned, "num");
      cell(tr, row.connection_rate === null ? null : (row.connection_rate * 100).toFixed(1) + "%", "num");
      cell(tr, row.avg_wait, "num");
      body.appendChild(tr);
      shown += 1;
    }
    if (!shown) {
      const tr = document.createElement("tr");
      const td = cell(tr, data.queue_label + " " + data.date + " 没有转人工的来电。");
      td.colSpan = 6;
      body.appendChild(tr);
    }
  }

  async function start() {
    let names;
    try { names = await get("/calls/names"); }
    catch (err) { message("加载失败：" + err.message); return; }
    options("f-seat", names.seats.map((s) => [s.id, s.name + "（" + s.id + "）"]));
    options("f-queue", Object.entries(names.queues));
    options("i-queue", Object.entries(names.queues));
    options("f-category", [...Object.entries(names.categories), ["-", "未分类"]]);
    options("f-outcome", [...Object.entries(names.outcomes), ["-", "进行中"]]);
    $("f-from").value = today();
    $("f-to").value = today();
    $("i-date").value = today();
    $("intervals").hidden = !names.may.reports;
    $("to-reports").hidden = !names.may.reports;
    $("exports").hidden = !names.may.export;
    $("search").addEventListener("submit", (ev) => {
      ev.preventDefault();
      filters = {};
      for (const k of ["from", "to", "number", "seat", "queue", "category", "outcome", "limit"]) {
        filters[k] = $("f-" + k).value.trim();
      }
      cursors = [null]; page = 0;
      exports();
      load();
    });
    $("next").addEventListener("click", () => {
      if (!nextCursor) { return; }
      cursors[page + 1] = nextCursor; page += 1; load();
    });
    $("prev").addEventListener("click", () => {
      if (page === 0) { return; }
      page -= 1; load();
    });
    $("interval-form").addEventListener("submit", (ev) => { ev.preventDefault(); intervals(); });
    $("search").requestSubmit();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
