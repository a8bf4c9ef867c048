// The seat page's "我的工单": the orders the seat opened (an expert's: and the difficult
// questions), live from /api/v1/orders/events; and the order a saved 台帐 entry opened.
// Separate from the seat page's own script: it listens to that script's events
// (hotline:entry-loaded, hotline:entry-saved) and touches only #my-orders and #e-order.
"use strict";
(function () {
  const O = window.HotlineOrders;
  const $ = (id) => document.getElementById(id);

  function render(list, total) {
    const body = $("my-orders-list").querySelector("tbody");
    body.textContent = "";
    for (const o of list) {
      const tr = document.createElement("tr");
      tr.id = "my-order-" + o.id;
      if (o.overdue) { tr.className = "overdue"; }
      O.cell(tr, "#" + o.id, "id");
      O.cell(tr, o.kind_label + (o.difficulty === "difficult" ? "（疑难）" : ""), "kind");
      O.cell(tr, o.content, "content");
      O.cell(tr, o.department || o.bureau_name || "-", "department");
      O.cell(tr, O.when(o.due_at), "due");
      O.cell(tr, o.status_label, "status");
      O.cell(tr, o.time_left_label || (o.result ? "答复：" + o.result : "-"), "left");
      body.appendChild(tr);
    }
    $("my-orders-empty").hidden = list.length > 0;
    $("my-orders-count").textContent = total ? "（共 " + total + " 件）" : "";
  }

  async function load() {
    try {
      const data = await O.api("GET", "/orders/mine?limit=20");
      render(data.orders, data.total);
    } catch (err) { $("my-orders-count").textContent = "（读取失败：" + err.message + "）"; }
  }

  function showOrder(id) {
    const el = $("e-order");
    if (el) { el.textContent = id ? "已转工单 #" + id : ""; }
  }

  document.addEventListener("hotline:entry-loaded", (ev) => {
    const e = ev.detail && ev.detail.entry;
    showOrder(e ? e.work_order_id : null);
  });
  document.addEventListener("hotline:entry-saved", (ev) => {
    showOrder(ev.detail ? ev.detail.work_order : null);
    load();
  });
  document.addEventListener("DOMContentLoaded", async () => {
    if (!$("my-orders")) { return; }
    try { await O.me(); } catch (err) { return; }
    O.listen(load);
  });
})();
