// The team leader's page: the live floor from /api/v1/leader/events (server-sent events)
// and the actions on a seat. No build step.
"use strict";
(function () {
  let csrf = null;
  let view = null;
  let skew = 0;  // the server's clock minus this browser's (ms)
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
    return (h ? h + ":" : "") + String(m).padStart(h ? 2 : 1, "0") + ":" + String(s).padStart(2, "0");
  }

  function since(text) {
    return text ? duration((Date.now() + skew - Date.parse(text)) / 1000) : "-";
  }

  function rate(value) { return value === null || value === undefined ? "-" : Math.round(value * 100) + "%"; }

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  function fill(id, items) {
    const el = $(id);
    const wanted = JSON.stringify(items);
    if (el.dataset.items === wanted) { return; }  // unchanged: an open list stays open
    el.dataset.items = wanted;
    const kept = el.value;
    el.textContent = "";
    for (const [code, label] of items) {
      const o = document.createElement("option");
      o.value = code; o.textContent = label;
      el.appendChild(o);
    }
    if (kept && items.some(([code]) => code === kept)) { el.value = kept; }
  }

  function tick() {
    if (!view) { return; }
    for (const s of view.seats) {
      const row = $("seat-" + s.seat);
      if (!row) { continue; }
      row.querySelector(".since").textContent = since(s.since);
      row.querySelector(".talk").textContent = s.call && s.call.state === "connected" ? since(s.call.since) : "-";
    }
  }

  function render(v) {
    view = v;
    skew = Date.parse(v.at) - Date.now();
    const problems = v.problems || [];
    $("problems").hidden = !problems.length && v.ami_connected !== false;
    $("problems").textContent = v.ami_connected === false ? "与交换机（Asterisk）的连接已断开" : problems.join("；");
    const t = v.today || {};
    $("line").textContent = v.line_label || "-";
    $("t-calls").textContent = t.calls ?? "-";
    $("t-offered").textContent = t.offered ?? "-";
    $("t-answered").textContent = t.answered ?? "-";
    $("t-rate").textContent = rate(t.connection_rate);
    $("t-abandoned").textContent = t.abandoned ?? "-";
    $("t-level").textContent = rate(t.service_level);
    $("o-due").textContent = (v.orders || {}).due_today ?? "-";
    $("o-overdue").textContent = (v.orders || {}).overdue ?? "-";
    $("ivr-count").textContent = v.ivr.count;

    const queues = $("queues");
    queues.textContent = "";
    for (const q of v.queues || []) {
      const row = document.createElement("tr");
      row.id = "queue-" + q.queue;
      cell(row, q.name);
      cell(row, String(q.waiting), "waiting");
      cell(row, q.waiting ? duration(q.longest_wait) : "-");
      cell(row, q.seats.filter((m) => m.free).length + "/" + q.seats.length);
      cell(row, String(q.today.offered));
      cell(row, String(q.today.answered));
      cell(row, String(q.today.abandoned));
      cell(row, rate(q.today.service_level));
      cell(row, [q.alert, q.overflow ? "溢出中" : "", q.remote_helping ? "远程座席支援" : ""].filter(Boolean).join("；"));
      queues.appendChild(row);
    }

    const seats = $("seats");
    seats.textContent = "";
    for (const s of v.seats) {
      const row = document.createElement("tr");
      row.id = "seat-" + s.seat;
      if ($("target").value === s.seat) { row.className = "selected"; }
      cell(row, s.seat);
      cell(row, s.name);
      cell(row, s.group_name);
      cell(row, s.state_label, "state st-" + s.state);
      cell(row, "", "since");
      const c = s.call;
      cell(row, c ? c.state_label + " " + (c.queue_name || "") + " " + c.category_label +
           (s.spy ? "（" + s.spy.by + " " + s.spy.mode_label + "中）" : "") : "-", "call");
      cell(row, "", "talk");
      cell(row, s.remote ? (s.moved_in ? "已迁入" + (s.moved_until ? "至 " + s.moved_until.slice(5, 16).replace("T", " ") : "") : "未迁入") : "-");
      cell(row, s.queue_names.join("、") || "-", "queues");
      cell(row, s.skills.filter((k) => k.today !== "removed").map((k) => k.name + (k.today === "added" ? "（今日增加）" : "")).join("、") +
           s.skills.filter((k) => k.today === "removed").map((k) => "；今日取消 " + k.name).join(""), "skills");
      const pick = document.createElement("button");
      pick.type = "button"; pick.textContent = "选择"; pick.className = "plain pick";
      pick.addEventListener("click", () => { $("target").value = s.seat; selected(); });
      row.appendChild(document.createElement("td")).appendChild(pick);
      seats.appendChild(row);
    }
    if (!$("reason").options.length) {
      fill("reason", v.pause_reasons.map((r) => [r.code, r.label]));
      fill("skill-queue", v.queue_list.map((q) => [q.queue, q.name]));
      fill("skill-level", [["", "默认"]].concat([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => [String(n), String(n)])));
      fill("phone", [["", "本人座席话机"]].concat(v.phones.map((p) => [p.device, p.seat + " " + p.name])));
    }
    fill("target", v.seats.map((s) => [s.seat, s.seat + " " + s.name]));
    const list = $("ivr");
    list.textContent = "";
    for (const c of v.ivr.calls) {
      const li = document.createElement("li");
      li.textContent = "已 " + since(c.since) + " · " + (c.menus.join(" → ") || "主菜单") + (c.category_label ? " · " + c.category_label : "");
      list.appendChild(li);
    }
    if (!v.ivr.calls.length) { const li = document.createElement("li"); li.textContent = "无"; list.appendChild(li); }
    selected();
    tick();
  }

  function target() { return view && view.seats.find((s) => s.seat === $("target").value); }

  function selected() {
    const s = target();
    for (const row of $("seats").children) { row.className = s && row.id === "seat-" + s.seat ? "selected" : ""; }
    $("target-name").textContent = s ? s.seat + " " + s.name + "：" + s.state_label : "";
    const on = !!(s && s.logged_in);
    $("pause").disabled = !on;
    $("unpause").disabled = !(s && s.paused);
    $("logout").disabled = !on;
    $("move-in").disabled = !(s && s.remote);
    $("move-out").disabled = !(s && s.remote && s.moved_in);
    const talking = !!(s && s.call && s.call.state === "connected");
    for (const id of ["listen", "whisper", "barge"]) { $(id).disabled = !talking; }
    $("spy-stop").disabled = !(s && s.spy);
  }

  async function run(path, body, done, method) {
    const s = target();
    if (!s) { return; }
    try {
      await api(method || "POST", "/leader/seats/" + encodeURIComponent(s.seat) + path, body);
      message("");
      $("done").textContent = done + "：" + s.seat + " " + s.name;
    } catch (err) { message("操作失败：" + err.message); }
  }

  function listen() {
    const source = new EventSource("/api/v1/leader/events");
    source.addEventListener("floor", (ev) => {
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
    $("target").addEventListener("change", selected);
    $("pause").addEventListener("click", () => run("/action", {action: "pause", reason: $("reason").value}, "已强制暂停"));
    $("unpause").addEventListener("click", () => run("/action", {action: "unpause"}, "已恢复"));
    $("logout").addEventListener("click", () => run("/action", {action: "logout"}, "已强制签出"));
    $("move-in").addEventListener("click", () => {
      const body = {action: "move_in"};
      if ($("until").value) { body.until = $("until").value; }
      run("/action", body, "已迁入");
    });
    $("move-out").addEventListener("click", () => run("/action", {action: "move_out"}, "已迁出"));
    $("skill-add").addEventListener("click", () => {
      const body = {queue: $("skill-queue").value, action: "add"};
      if ($("skill-level").value) { body.level = Number($("skill-level").value); }
      run("/skills", body, "今日技能已增加");
    });
    $("skill-remove").addEventListener("click", () => run("/skills", {queue: $("skill-queue").value, action: "remove"}, "今日技能已取消"));
    for (const [id, label] of [["listen", "监听"], ["whisper", "耳语"], ["barge", "强插"]]) {
      $(id).addEventListener("click", () => {
        const body = {mode: id};
        if ($("phone").value) { body.phone = $("phone").value; }
        run("/spy", body, label + "已发起，请接听班长话机");
      });
    }
    $("spy-stop").addEventListener("click", () => run("/spy", undefined, "已结束监听", "DELETE"));
    setInterval(tick, 1000);
    listen();
  }
  document.addEventListener("DOMContentLoaded", start);
})();
