// The quality review page (质检): for leaders, experts and auditors the review queue
// (the drawn calls), a call's recording in an <audio> player and the review form; for a
// seat its own reviews. Every action is an /api/v1/quality call; the API decides who may
// do what (the page only hides what the role cannot do). No build step.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let csrf = null;
  let roles = [];
  let form = [];
  let current = null; // the drawn call shown

  async function api(method, path, body) {
    const headers = {"Accept": "application/json"};
    if (method !== "GET") { headers["X-CSRF-Token"] = csrf; headers["Content-Type"] = "application/json"; }
    const res = await fetch("/api/v1" + path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await res.json();
    if (!res.ok) { throw new Error(data.message || data.error || String(res.status)); }
    return data;
  }

  function say(text) { const m = $("message"); m.textContent = text; m.hidden = !text; }
  function note(text) { const n = $("notice"); n.textContent = text; n.hidden = !text; }
  async function run(work) {
    say("");
    try { await work(); } catch (err) { say("操作未完成：" + err.message); }
  }
  const has = (role) => roles.indexOf(role) >= 0;
  const reviewer = () => has("leader") || has("expert");
  const reader = () => reviewer() || has("auditor");
  const when = (t) => t ? t.slice(0, 16).replace("T", " ") : "-";
  const percent = (p) => p === null || p === undefined ? "-" : Number(p).toFixed(1) + "%";

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "-" : String(text);
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  async function queue() {
    const q = new URLSearchParams();
    if ($("f-pending").checked) { q.set("pending", "1"); }
    if ($("f-seat").value.trim()) { q.set("seat", $("f-seat").value.trim()); }
    const data = await api("GET", "/quality/queue?" + q.toString());
    const body = $("calls").querySelector("tbody");
    body.textContent = "";
    for (const c of data.calls) {
      const row = document.createElement("tr");
      row.dataset.linkedid = c.linkedid;
      cell(row, c.linkedid); cell(row, c.day); cell(row, c.seat); cell(row, when(c.answered_at));
      cell(row, c.category_label); cell(row, c.rating_label, c.rating === "unsatisfied" ? "low" : "");
      cell(row, c.reason_label); cell(row, c.status_label, c.reviewed ? "done" : "pending");
      cell(row, percent(c.percent), c.percent !== null && c.percent < 60 ? "low" : "");
      row.addEventListener("click", () => run(() => open(c, row)));
      body.appendChild(row);
    }
    $("queue-count").textContent = "共 " + data.calls.length + " 通";
    $("calls-empty").hidden = data.calls.length > 0;
  }

  async function mine() {
    const data = await api("GET", "/quality/reviews");
    const body = $("reviews").querySelector("tbody");
    body.textContent = "";
    for (const r of data.reviews) {
      const row = document.createElement("tr");
      row.dataset.id = r.id;
      cell(row, r.id); cell(row, r.linkedid); cell(row, when(r.at)); cell(row, r.reviewer);
      cell(row, r.total + " / " + r.maximum); cell(row, percent(r.percent), r.percent < 60 ? "low" : "");
      row.addEventListener("click", () => run(() => openReview(r.id, row)));
      body.appendChild(row);
    }
    $("mine-count").textContent = "共 " + data.reviews.length + " 条";
    $("reviews-empty").hidden = data.reviews.length > 0;
  }

  function select(row) {
    for (const r of document.querySelectorAll("tr.selected")) { r.classList.remove("selected"); }
    if (row) { row.classList.add("selected"); }
  }

  // The recording is fetched only when the reviewer presses 播放录音: each fetch is a
  // play the recordings desk audits (with the reason 质检).
  function player(c) {
    const audio = $("c-audio");
    const hint = $("c-audio-note");
    audio.pause();
    audio.removeAttribute("src");
    $("c-player").hidden = true;
    hint.hidden = true;
    const none = c.recording_id === null || c.recording_id === undefined;
    $("c-audio-row").hidden = none;
    if (none) {
      hint.textContent = "该通话没有可播放的录音。";
      hint.hidden = false;
    }
  }

  function play() {
    if (!current || current.recording_id === null || current.recording_id === undefined) { return; }
    const audio = $("c-audio");
    audio.src = "/api/v1/recordings/" + current.recording_id + "/audio?reason=" + encodeURIComponent("质检");
    $("c-player").hidden = false;
    audio.play().catch(() => {});
  }

  async function playError() {
    const audio = $("c-audio");
    const src = audio.getAttribute("src");
    if (!src) { return; }
    let why = "";
    try {
      const res = await fetch(src, {credentials: "same-origin"});
      if (!res.ok) { why = "：" + ((await res.json()).message || res.status); }
    } catch (err) { why = ""; }
    const hint = $("c-audio-note");
    hint.textContent = "无法播放该录音" + why;
    hint.hidden = false;
  }

  function showCall(c) {
    current = c;
    $("call").hidden = false;
    $("c-id").textContent = c.linkedid;
    $("c-info").textContent = "座席 " + c.seat + " · " + when(c.answered_at) + " · " + c.category_label +
      " · 满意度：" + c.rating_label + " · " + c.reason_label;
    player(c);
  }

  async function open(c, row) {
    select(row);
    note("");
    showCall(c);
    $("c-review").hidden = true;
    $("c-form").hidden = true;
    if (c.review_id !== null && c.review_id !== undefined) {
      showReview(await api("GET", "/quality/reviews/" + c.review_id));
    } else if (reviewer()) {
      fillForm();
    }
  }

  async function openReview(id, row) {
    select(row);
    const r = await api("GET", "/quality/reviews/" + id);
    if (r.draw) { showCall(r.draw); } else { $("call").hidden = false; $("c-id").textContent = r.linkedid; }
    $("c-form").hidden = true;
    showReview(r);
  }

  function fillForm() {
    const body = $("items").querySelector("tbody");
    body.textContent = "";
    for (const item of form) {
      const row = document.createElement("tr");
      const label = cell(row, "");
      const name = document.createElement("label");
      name.htmlFor = "score-" + item.key; name.textContent = item.label;
      label.appendChild(name);
      const td = document.createElement("td");
      const input = document.createElement("input");
      input.type = "number"; input.min = "0"; input.max = String(item.max); input.step = "0.5";
      input.id = "score-" + item.key; input.dataset.key = item.key;
      input.addEventListener("input", total);
      td.appendChild(input); row.appendChild(td);
      cell(row, item.max);
      body.appendChild(row);
    }
    $("f-comment").value = "";
    $("f-max").textContent = String(form.reduce((s, i) => s + i.max, 0));
    total();
    $("c-form").hidden = false;
  }

  function total() {
    let sum = 0;
    for (const input of $("items").querySelectorAll("input")) {
      const v = parseFloat(input.value);
      if (!isNaN(v)) { sum += v; }
    }
    $("f-total").textContent = String(sum);
  }

  function showReview(r) {
    const body = $("r-items").querySelector("tbody");
    body.textContent = "";
    for (const item of r.items) {
      const row = document.createElement("tr");
      cell(row, item.label); cell(row, item.score); cell(row, item.max);
      body.appendChild(row);
    }
    $("r-id").textContent = "编号 " + r.id;
    $("r-total").textContent = r.total + " / " + r.maximum;
    $("r-percent").textContent = percent(r.percent);
    $("r-reviewer").textContent = r.reviewer;
    $("r-at").textContent = when(r.at);
    $("r-comment").textContent = r.comment || "无";
    $("c-review").hidden = false;
  }

  async function save() {
    if (!current) { return; }
    const scores = {};
    for (const input of $("items").querySelectorAll("input")) {
      if (input.value.trim() === "") { throw new Error("请为每个评分项打分（" + input.id.slice(6) + "）"); }
      scores[input.dataset.key] = parseFloat(input.value);
    }
    const comment = $("f-comment").value.trim();
    const r = await api("POST", "/quality/reviews", {linkedid: current.linkedid, scores,
      comment: comment || null});
    $("c-form").hidden = true;
    showReview(r);
    note("已保存质检记录 " + r.id + "：通话 " + r.linkedid + "，得分率 " + percent(r.percent) + "。");
    await queue();
  }

  async function pick() {
    const id = $("pick-id").value.trim();
    if (!id) { throw new Error("请输入通话编号"); }
    const c = await api("POST", "/quality/queue", {linkedid: id});
    $("pick-id").value = "";
    note("已将通话 " + c.linkedid + "（座席 " + c.seat + "）加入质检队列。");
    await queue();
  }

  async function start() {
    const res = await fetch("/api/v1/me", {credentials: "same-origin"});
    if (!res.ok) { location.href = "/login"; return; }
    const me = await res.json();
    csrf = me.csrf_token; roles = me.roles || [];
    $("who").textContent = me.display_name + "（" + (me.role_labels || []).join("、") + "）";
    if (reviewer()) { form = (await api("GET", "/quality/form")).items; }
    if (reader()) {
      $("queue").hidden = false;
      $("pick-row").hidden = !has("leader");
      await queue();
    } else {
      $("mine").hidden = false;
      await mine();
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("f-go").addEventListener("click", () => run(queue));
    $("f-pending").addEventListener("change", () => run(queue));
    $("pick-go").addEventListener("click", () => run(pick));
    $("f-save").addEventListener("click", () => run(save));
    $("f-cancel").addEventListener("click", () => { $("call").hidden = true; $("c-audio").pause(); select(null); });
    $("c-play").addEventListener("click", play);
    $("c-audio").addEventListener("error", () => { playError(); });
    run(start);
  });
})();
