// The seat's page: its state and actions, the screen pop and the 台帐 entry, live from
// /api/v1/seats/me/events (server-sent events). No build step.
"use strict";
(function () {
  let csrf = null;
  let view = null;
  let entryCall = null;   // the call whose entry the form shows
  let draftTimer = null;
  let lists = null;       // categories, topics, resolutions, difficulties
  const $ = (id) => document.getElementById(id);

  function message(text) {
    const m = $("message");
    m.textContent = text || "";
    m.hidden = !text;
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

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    return (h ? h + " 小时 " : "") + (h || m ? m + " 分 " : "") + s + " 秒";
  }

  // The page counts its clocks itself: the server sends a view on a change only.
  function tick() {
    if (view && view.since) {
      $("since").textContent = duration((Date.now() - Date.parse(view.since)) / 1000);
    }
    const c = view && view.call;
    if (c && c.queued_at) {
      $("pop-wait").textContent = duration((Date.now() - Date.parse(c.queued_at)) / 1000);
    }
  }

  function figures(t) {
    if (!t) { return; }
    $("t-answered").textContent = t.answered;
    $("t-talk").textContent = duration(t.talk_seconds);
    $("t-handling").textContent = t.average_handling_seconds === null ? "-" :
      duration(t.average_handling_seconds);
    $("t-wrapup").textContent = duration(t.after_call_work_seconds);
    $("t-pauses").textContent = t.pauses + " 次，共 " + duration(t.pause_seconds);
  }

  function fill(list, items, selected) {
    const el = $(list);
    el.textContent = "";
    for (const [code, label] of items) {
      const o = document.createElement("option");
      o.value = code; o.textContent = label;
      el.appendChild(o);
    }
    if (selected !== undefined) { el.value = selected || ""; }
  }

  function item(parent, text) {
    const li = document.createElement("li");
    li.textContent = text;
    $(parent).appendChild(li);
  }

  function render(v) {
    view = v;
    $("seat-name").textContent = v.seat + " " + v.name + "（" + v.group_name + "）";
    $("state").textContent = v.state_label;
    tick();
    if (!$("reason").options.length) {
      fill("reason", v.pause_reasons.map((r) => [r.code, r.label]));
    }
    $("login").disabled = v.logged_in;
    $("logout").disabled = !v.logged_in;
    $("pause").disabled = !v.logged_in;
    $("unpause").disabled = !v.paused;
    const c = v.call;
    $("pop").hidden = !c;
    if (c) {
      $("pop-state").textContent = c.state_label;
      $("pop-number").textContent = (c.caller_number || "未知号码") + (c.masked ? "（保密）" : "");
      $("pop-region").textContent = c.region || "-";
      $("pop-category").textContent = c.category_label;
      $("pop-topic").textContent = c.topic_label || "-";
      $("pop-path").textContent = c.ivr_path_labels.join(" → ") || "-";
      $("pop-digits").textContent = c.digits || "-";
      $("pop-inputs").textContent = c.inputs.map((i) => i.label + " " + i.value).join("，") || "-";
      $("pop-wait").textContent = c.wait_seconds === null ? "-" : duration(c.wait_seconds);
      $("pop-history").textContent = "";
      for (const e of c.earlier_calls || []) {
        item("pop-history", e.started_at.slice(0, 16).replace("T", " ") + " " +
             e.category_label + (e.topic_label ? "／" + e.topic_label : "") + " " +
             e.outcome_label + (e.question ? "：" + e.question : ""));
      }
      if (!(c.earlier_calls || []).length) { item("pop-history", "无"); }
      $("pop-orders").textContent = "";
      for (const o of c.open_orders || []) {
        item("pop-orders", "#" + o.id + " " + o.content + "（期限 " +
             o.due_at.slice(0, 16).replace("T", " ") + "）");
      }
      if (!(c.open_orders || []).length) { item("pop-orders", "无"); }
    }
    figures(v.today);
    const wanted = v.entry_call || (c ? c.linkedid : null);
    if (wanted && wanted !== entryCall) { loadEntry(wanted); }
  }

  function form() {
    const out = {};
    for (const k of ["category", "topic", "question", "answer", "resolution",
                     "difficulty", "department", "callback_number"]) {
      const el = $("e-" + (k === "callback_number" ? "callback" : k));
      out[k] = el.value;
    }
    return out;
  }

  function showOrderFields() {
    $("order-fields").hidden = $("e-resolution").value !== "work_order";
  }

  async function loadEntry(linkedid) {
    entryCall = linkedid;
    try {
      const data = await api("GET", "/calls/" + encodeURIComponent(linkedid) + "/entry");
      lists = data;
      const e = data.entry || {};
      const f = e.draft || e.saved || {};
      // The call's row may not be written yet while it rings: the pop has the same.
      const call = data.call || (view && view.call) || {};
      const none = [["", "请选择"]];
      fill("e-category", none.concat(Object.entries(data.categories)), f.category || call.category);
      fill("e-topic", none.concat(Object.entries(data.topics)), f.topic || call.topic);
      fill("e-resolution", none.concat(Object.entries(data.resolutions)), f.resolution);
      fill("e-difficulty", none.concat(Object.entries(data.difficulties)), f.difficulty);
      $("e-question").value = f.question || "";
      $("e-answer").value = f.answer || "";
      $("e-department").value = f.department || "";
      $("e-callback").value = f.callback_number || "";
      $("entry-call").textContent = "（通话 " + linkedid + "）";
      $("e-status").textContent = e.saved_at ? "已保存 " + e.saved_at.slice(11, 19) :
        (e.draft ? "草稿已恢复" : "");
      showOrderFields();
      $("entry").hidden = false;
      document.dispatchEvent(new CustomEvent("hotline:entry-loaded", {detail: data}));
    } catch (err) {
      message("台帐读取失败：" + err.message);
    }
  }

  function draft() {
    clearTimeout(draftTimer);
    $("e-status").textContent = "编辑中…";
    draftTimer = setTimeout(async () => {
      if (!entryCall) { return; }
      try {
        await api("PUT", "/calls/" + encodeURIComponent(entryCall) + "/entry", form());
        $("e-status").textContent = "草稿已保存";
      } catch (err) { $("e-status").textContent = "草稿保存失败：" + err.message; }
    }, 400);
  }

  async function save() {
    clearTimeout(draftTimer);
    try {
      const saved = await api("POST", "/calls/" + encodeURIComponent(entryCall) + "/entry", form());
      $("e-status").textContent = "已保存";
      document.dispatchEvent(new CustomEvent("hotline:entry-saved", {detail: saved}));
      message("");
    } catch (err) { message("台帐未保存：" + err.message); }
  }

  async function act(action, reason) {
    try {
      const body = {action};
      if (reason) { body.reason = reason; }
      await api("POST", "/seats/me/action", body);
      message("");
    } catch (err) { message("操作失败：" + err.message); }
  }

  function listen() {
    const source = new EventSource("/api/v1/seats/me/events");
    source.addEventListener("seat", (ev) => {
      $("live").textContent = "";
      render(JSON.parse(ev.data));
    });
    source.addEventListener("ended", () => { source.close(); location.href = "/login"; });
    source.onerror = () => { $("live").textContent = "（连接中断，正在重连…）"; };
  }

  async function start() {
    try {
      const me = await api("GET", "/me");
      csrf = me.csrf_token;
    } catch (err) { location.href = "/login"; return; }
    $("login").addEventListener("click", () => act("login"));
    $("logout").addEventListener("click", () => act("logout"));
    $("unpause").addEventListener("click", () => act("unpause"));
    $("pause").addEventListener("click", () => act("pause", $("reason").value));
    for (const id of ["e-category", "e-topic", "e-question", "e-answer", "e-resolution",
                      "e-difficulty", "e-department", "e-callback"]) {
      $(id).addEventListener("input", draft);
      $(id).addEventListener("change", draft);
    }
    $("e-resolution").addEventListener("change", showOrderFields);
    $("e-save").addEventListener("click", save);
    setInterval(tick, 1000);
    listen();
  }
  document.addEventListener("DOMContentLoaded", start);
})();
