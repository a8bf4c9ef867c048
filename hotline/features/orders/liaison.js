// The liaison's page: the orders passed on to their department or bureau, by deadline,
// with the working time left; answer, ask for more time (the caller told), send back.
"use strict";
(function () {
  const O = window.HotlineOrders;
  const $ = (id) => document.getElementById(id);
  let chosen = null;   // the order the panel acts on
  let orders = {};

  function message(text) { $("message").textContent = text || ""; $("message").hidden = !text; }

  function render(list) {
    const body = $("orders").querySelector("tbody");
    body.textContent = "";
    orders = {};
    for (const o of list) {
      orders[o.id] = o;
      const tr = document.createElement("tr");
      tr.id = "order-" + o.id;
      tr.className = (o.overdue ? "overdue" : o.nearly_due ? "nearly" : "") +
        (chosen === o.id ? " chosen" : "");
      O.cell(tr, "#" + o.id, "id");
      O.cell(tr, o.kind_label + (o.difficulty === "difficult" ? "（疑难）" : ""), "kind");
      O.cell(tr, o.content, "content");
      O.cell(tr, (o.callback_number || "-") + (o.masked ? "（保密）" : ""), "number");
      O.cell(tr, O.when(o.due_at), "due");
      const left = O.cell(tr, o.time_left_label, "left");
      if (o.overdue) { left.insertAdjacentHTML("afterbegin", '<span class="tag">逾期</span> '); }
      else if (o.nearly_due) { left.insertAdjacentHTML("afterbegin", '<span class="tag soon">临期</span> '); }
      O.cell(tr, o.status_label + (o.delay_notified_at ? "，已延期" : ""), "status");
      O.cell(tr, O.reminders(o) || "-", "reminders reminder");
      O.button(O.cell(tr, ""), "办理", "handle", () => choose(o.id));
      body.appendChild(tr);
    }
    $("empty").hidden = list.length > 0;
    if (chosen !== null) {
      if (orders[chosen]) { panel(orders[chosen]); } else { $("act").hidden = true; chosen = null; }
    }
  }

  function renderDone(list) {
    const body = $("done").querySelector("tbody");
    body.textContent = "";
    for (const o of list) {
      const tr = document.createElement("tr");
      tr.id = "done-" + o.id;
      O.cell(tr, "#" + o.id); O.cell(tr, o.kind_label); O.cell(tr, o.content);
      O.cell(tr, O.when(o.answered_at)); O.cell(tr, o.result);
      body.appendChild(tr);
    }
  }

  function panel(o) {
    $("act").hidden = false;
    $("act-id").textContent = "#" + o.id + "（" + o.time_left_label + "）";
    $("act-content").textContent = o.content;
    const h = $("act-history");
    h.textContent = "";
    for (const e of o.history || []) {
      const li = document.createElement("li");
      li.textContent = O.when(e.at) + " " + e.by_name + " " + e.label + (e.note ? "：" + e.note : "");
      h.appendChild(li);
    }
  }

  function choose(id) {
    chosen = id;
    $("act-status").textContent = "";
    load();
  }

  async function load() {
    try {
      const open = await O.api("GET", "/orders?status=passed_on&limit=200");
      render(open.orders);
      const done = await O.api("GET", "/orders?status=answered&limit=20");
      renderDone(done.orders.slice().reverse());
    } catch (err) { message("工单读取失败：" + err.message); }
  }

  async function act(path, body, done) {
    try {
      await O.api("POST", "/orders/" + chosen + "/" + path, body);
      $("act-status").textContent = done;
      message("");
      await load();
    } catch (err) { $("act-status").textContent = "未成功：" + err.message; }
  }

  async function start() {
    const me = await O.me();
    $("who").textContent = me.display_name + "（" + (me.department || me.bureau || "-") + "）";
    $("answer-send").addEventListener("click", () =>
      act("answer", {result: $("answer-result").value}, "已答复"));
    $("extend-send").addEventListener("click", () =>
      act("extend", {days: Number($("extend-days").value), reason: $("extend-reason").value,
                     caller_told: $("extend-told").checked}, "已延期"));
    $("return-send").addEventListener("click", () =>
      act("return", {reason: $("return-reason").value}, "已退回中心"));
    O.listen(load, $("live"));
  }
  document.addEventListener("DOMContentLoaded", () => { start().catch(() => {}); });
})();
