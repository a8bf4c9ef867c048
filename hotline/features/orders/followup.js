// The leader's follow-up page: today's abandoned calls with 回拨 (a call back order),
// and the orders overdue and nearly due with 催办 (a reminder shown to who must answer).
"use strict";
(function () {
  const O = window.HotlineOrders;
  const $ = (id) => document.getElementById(id);

  function message(text) { $("message").textContent = text || ""; $("message").hidden = !text; }

  function abandoned(list) {
    const body = $("abandoned").querySelector("tbody");
    body.textContent = "";
    for (const c of list) {
      const tr = document.createElement("tr");
      tr.dataset.linkedid = c.linkedid;
      O.cell(tr, O.when(c.started_at), "when");
      O.cell(tr, (c.caller_number || "未知号码") + (c.masked ? "（保密）" : ""), "number");
      O.cell(tr, c.region, "region");
      O.cell(tr, c.category_label + (c.topic_label ? "／" + c.topic_label : ""), "category");
      O.cell(tr, c.queue_name, "queue");
      O.cell(tr, c.wait_seconds === null ? "-" : Math.round(c.wait_seconds) + " 秒", "wait");
      const td = O.cell(tr, "", "callback");
      if (c.callback_order) {
        td.textContent = "已建回拨工单 #" + c.callback_order;
      } else {
        O.button(td, "回拨", "callback", async () => {
          try {
            const o = await O.api("POST", "/calls/" + encodeURIComponent(c.linkedid) + "/callback");
            td.textContent = "已建回拨工单 #" + o.id;
            message("");
          } catch (err) { message("回拨工单未建立：" + err.message); }
        });
      }
      body.appendChild(tr);
    }
    $("abandoned-empty").hidden = list.length > 0;
  }

  function orders(table, prefix, list) {
    const body = $(table).querySelector("tbody");
    body.textContent = "";
    for (const o of list) {
      const tr = document.createElement("tr");
      tr.id = prefix + o.id;
      O.cell(tr, "#" + o.id, "id");
      O.cell(tr, o.kind_label, "kind");
      O.cell(tr, o.content, "content");
      O.cell(tr, o.department || o.bureau_name || "未转办", "department");
      O.cell(tr, O.when(o.due_at), "due");
      O.cell(tr, o.time_left_label, "left");
      O.cell(tr, O.reminders(o) || "-", "reminders reminder");
      O.button(O.cell(tr, ""), "催办", "remind", async () => {
        try {
          const note = $("remind-note").value.trim();
          await O.api("POST", "/orders/" + o.id + "/remind", note ? {note} : {});
          message("");
          await load();
        } catch (err) { message("催办未成功：" + err.message); }
      });
      body.appendChild(tr);
    }
    $(table + "-empty").hidden = list.length > 0;
  }

  async function load() {
    try {
      const data = await O.api("GET", "/followup");
      $("at").textContent = "更新于 " + O.when(data.at);
      $("nearly-hours").textContent = String(data.nearly_due_hours);
      abandoned(data.abandoned);
      orders("overdue", "overdue-", data.overdue);
      orders("nearly", "nearly-", data.nearly_due);
    } catch (err) { message("读取失败：" + err.message); }
  }

  async function start() {
    await O.me();
    $("refresh").addEventListener("click", load);
    O.listen(load, $("live"));
  }
  document.addEventListener("DOMContentLoaded", () => { start().catch(() => {}); });
})();
