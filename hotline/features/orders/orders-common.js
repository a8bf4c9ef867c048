// What the work-order pages share: the API with the session's CSRF token, dates and
// reminders as staff read them, and the live stream of order changes. No build step.
"use strict";
window.HotlineOrders = (function () {
  let csrf = null;

  async function me() {
    const res = await fetch("/api/v1/me", {credentials: "same-origin"});
    if (!res.ok) { location.href = "/login"; throw new Error("not logged in"); }
    const data = await res.json();
    csrf = data.csrf_token;
    return data;
  }

  async function api(method, path, body) {
    const headers = {"Accept": "application/json"};
    if (method !== "GET") { headers["X-CSRF-Token"] = csrf; headers["Content-Type"] = "application/json"; }
    const res = await fetch("/api/v1" + path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await res.json();
    if (!res.ok) { throw new Error(data.message || data.error || String(res.status)); }
    return data;
  }

  // "2026-11-25T10:03:00.000+08:00" -> "11-25 10:03" (Beijing time, as stored)
  function when(text) {
    return text ? text.slice(5, 16).replace("T", " ") : "-";
  }

  function reminders(order) {
    return (order.reminders || []).map((r) => "催办：" + r.by_name + " " + when(r.at) +
      (r.note ? "（" + r.note + "）" : "")).join("；");
  }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "-" : String(text);
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  function button(td, text, cls, onClick) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.className = cls;
    b.addEventListener("click", onClick);
    td.appendChild(b);
    return b;
  }

  // Calls `changed` at once and whenever an order changes (and every minute).
  function listen(changed, status) {
    const source = new EventSource("/api/v1/orders/events");
    source.addEventListener("orders", () => { if (status) { status.textContent = ""; } changed(); });
    source.addEventListener("ended", () => { source.close(); location.href = "/login"; });
    source.onerror = () => { if (status) { status.textContent = "（连接中断，正在重连…）"; } };
    return source;
  }

  return {me, api, when, reminders, cell, button, listen};
})();
