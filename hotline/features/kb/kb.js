// The knowledge base page (知识库): search, the entries, one entry's versions, the draft
// form and the review/publish/withdraw buttons by role. Every action is an /api/v1/kb
// call; the API decides who may do what (the buttons only hide what the role cannot do).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let csrf = null;
  let roles = [];
  let topics = {};
  let scopes = [];
  let current = null; // the entry shown

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
  const scopeLabel = (s) => s === "province" ? "全省" : s;
  const when = (t) => t ? t.slice(0, 16).replace("T", " ") : "-";

  function option(select, value, label) {
    const o = document.createElement("option");
    o.value = value; o.textContent = label; select.appendChild(o);
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "-" : String(text);
    row.appendChild(td);
  }

  async function list() {
    const q = new URLSearchParams();
    if ($("f-status").value) { q.set("status", $("f-status").value); }
    if ($("f-topic").value) { q.set("topic", $("f-topic").value); }
    if ($("f-expiring").checked) { q.set("expiring", "1"); }
    const data = await api("GET", "/kb?" + q.toString());
    topics = data.topics; scopes = data.scopes;
    const body = $("entries").querySelector("tbody");
    body.textContent = "";
    for (const e of data.entries) {
      const v = e.latest;
      const row = document.createElement("tr");
      row.dataset.id = e.id;
      cell(row, e.id); cell(row, v.question); cell(row, topics[v.topic] || v.topic);
      cell(row, scopeLabel(v.scope)); cell(row, "第 " + v.version + " 版");
      cell(row, v.status_label); cell(row, v.effective_until);
      row.addEventListener("click", () => run(() => show(e.id)));
      body.appendChild(row);
    }
    $("entries-empty").hidden = data.entries.length > 0;
    $("list-count").textContent = "（" + data.total + " 条" +
      (data.total > data.entries.length ? "，显示前 " + data.entries.length + " 条" : "") + "）";
  }

  function fillChoices() {
    for (const [id, first] of [["f-topic", true], ["d-topic", false]]) {
      const s = $(id); const keep = s.value;
      s.textContent = "";
      if (first) { option(s, "", "全部"); }
      for (const [k, label] of Object.entries(topics)) { option(s, k, label); }
      s.value = keep;
    }
    const sc = $("d-scope"); sc.textContent = "";
    option(sc, "province", "全省");
    for (const s of scopes) { option(sc, s, s + "（本地）"); }
  }

  function line(box, label, text, cls) {
    const p = document.createElement("p");
    const b = document.createElement("strong"); b.textContent = label + "：";
    const span = document.createElement("span"); span.textContent = text || "-";
    if (cls) { span.className = cls; }
    p.appendChild(b); p.appendChild(span); box.appendChild(p);
  }

  async function show(id) {
    const e = await api("GET", "/kb/" + encodeURIComponent(id));
    current = e;
    $("view").hidden = false;
    $("v-id").textContent = e.id;
    $("v-live").textContent = e.live ? "（现行：第 " + e.live + " 版）" : "（未发布）";
    const box = $("v-versions"); box.textContent = "";
    for (const v of e.versions.slice().reverse()) {
      const div = document.createElement("div");
      div.className = "version"; div.dataset.version = v.version;
      const h = document.createElement("h3");
      h.textContent = "第 " + v.version + " 版 · ";
      const st = document.createElement("span");
      st.className = "status-" + v.status; st.textContent = v.status_label;
      h.appendChild(st); div.appendChild(h);
      line(div, "问题", v.question);
      line(div, "其他问法", v.phrasings.join("；"));
      line(div, "座席答复", v.answer, "answer");
      line(div, "语音答复", v.spoken);
      line(div, "主题", topics[v.topic] || v.topic);
      line(div, "范围", scopeLabel(v.scope));
      line(div, "文件依据", [v.source_number, v.source_date].filter(Boolean).join(" "));
      line(div, "有效期", (v.effective_from || "-") + " 至 " + (v.effective_until || "-"));
      if (v.note) { line(div, "修改说明", v.note); }
      const who = ["撰写 " + v.written_by + " " + when(v.written_at)];
      if (v.reviewed_by) { who.push("审核 " + v.reviewed_by + " " + when(v.reviewed_at)); }
      if (v.published_by) { who.push("发布 " + v.published_by + " " + when(v.published_at)); }
      if (v.withdrawn_by) { who.push("撤回 " + v.withdrawn_by + " " + when(v.withdrawn_at)); }
      line(div, "经办", who.join("；"));
      box.appendChild(div);
    }
    const latest = e.latest;
    $("v-edit").hidden = !(has("seat") || has("expert") || has("leader"));
    $("v-review").hidden = !has("expert") || latest.status !== "draft";
    $("v-publish").hidden = !has("leader") || latest.status !== "reviewed";
    const canWithdraw = has("leader") && e.live !== null;
    for (const id of ["v-withdraw", "v-reason"]) { $(id).hidden = !canWithdraw; }
    $("v-reason").previousElementSibling.hidden = !canWithdraw;
  }

  function openForm(entry) {
    fillChoices();
    const v = entry ? entry.latest : null;
    $("form").hidden = false;
    $("d-title").textContent = v ? "修改 " + entry.id + "（基于第 " + v.version + " 版）" : "新建条目";
    $("form").dataset.id = entry ? entry.id : "";
    $("form").dataset.base = v ? String(v.version) : "";
    $("d-question").value = v ? v.question : "";
    $("d-phrasings").value = v ? v.phrasings.join("\n") : "";
    $("d-answer").value = v ? v.answer : "";
    $("d-spoken").value = v ? v.spoken : "";
    $("d-topic").value = v ? v.topic : Object.keys(topics)[0] || "";
    $("d-scope").value = v ? v.scope : "province";
    $("d-source-number").value = v && v.source_number ? v.source_number : "";
    $("d-source-date").value = v && v.source_date ? v.source_date : "";
    $("d-from").value = v && v.effective_from ? v.effective_from : "";
    $("d-until").value = v && v.effective_until ? v.effective_until : "";
    $("d-note").value = "";
    count();
    $("d-question").focus();
  }

  function count() { $("d-spoken-count").textContent = $("d-spoken").value.length + " / 170 字"; }

  async function save() {
    const body = {
      question: $("d-question").value, answer: $("d-answer").value, spoken: $("d-spoken").value,
      phrasings: $("d-phrasings").value.split("\n").map((s) => s.trim()).filter(Boolean),
      topic: $("d-topic").value, scope: $("d-scope").value,
      source_number: $("d-source-number").value || null,
      source_date: $("d-source-date").value || null,
      effective_from: $("d-from").value || null, effective_until: $("d-until").value || null,
      note: $("d-note").value || null};
    const id = $("form").dataset.id;
    let shown;
    if (id) {
      body.base = Number($("form").dataset.base);
      shown = await api("PATCH", "/kb/" + encodeURIComponent(id), body);
      note(id + " 第 " + shown.version + " 版已保存为草稿，待专家审核。");
    } else {
      shown = (await api("POST", "/kb", body)).latest;
      note(shown.id + " 已保存为草稿，待专家审核。");
    }
    $("form").hidden = true;
    await list();
    await show(shown.id);
  }

  async function act(name, body) {
    const v = await api("POST", "/kb/" + encodeURIComponent(current.id) + "/" + name, body);
    note(v.id + " 第 " + v.version + " 版：" + v.status_label);
    await list();
    await show(current.id);
  }

  async function search() {
    const q = $("kb-q").value.trim();
    const box = $("kb-found"); box.textContent = "";
    if (!q) { $("kb-none").hidden = true; return; }
    const data = await api("GET", "/kb/search?q=" + encodeURIComponent(q));
    for (const f of data.found) {
      const li = document.createElement("li");
      const title = document.createElement("strong");
      title.textContent = f.question; li.appendChild(title);
      if (f.scope !== "province") {
        const tag = document.createElement("span");
        tag.className = "local"; tag.textContent = f.scope + " 本地"; li.appendChild(document.createTextNode(" ")); li.appendChild(tag);
      }
      const id = document.createElement("span");
      id.className = "muted"; id.textContent = " " + f.id + " 第 " + f.version + " 版";
      li.appendChild(id);
      const answer = document.createElement("div");
      answer.className = "answer"; answer.textContent = f.answer; li.appendChild(answer);
      box.appendChild(li);
    }
    $("kb-none").hidden = data.found.length > 0;
  }

  async function importFile() {
    const file = $("import-file").files[0];
    if (!file) { throw new Error("请选择要导入的文件"); }
    const text = await file.text();
    const format = /\.csv$/i.test(file.name) ? "csv" : "yaml";
    try {
      const data = await api("POST", "/kb/import", {format, text, name: file.name});
      $("import-result").textContent = "已导入 " + data.imported.length + " 条草稿：" + data.imported.join("、");
    } catch (err) {
      $("import-result").textContent = err.message;
      throw new Error("导入未完成，没有导入任何条目");
    }
    await list();
  }

  async function start() {
    const res = await fetch("/api/v1/me", {credentials: "same-origin"});
    if (!res.ok) { location.href = "/login"; return; }
    const me = await res.json();
    csrf = me.csrf_token; roles = me.roles || [];
    $("who").textContent = me.display_name + "（" + (me.role_labels || []).join("、") + "）";
    const drafts = has("seat") || has("expert") || has("leader");
    $("new-entry").hidden = !drafts;
    $("import-row").hidden = !drafts;
    await list();
    fillChoices();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("kb-go").addEventListener("click", () => run(search));
    $("kb-q").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { run(search); } });
    for (const id of ["f-status", "f-topic", "f-expiring"]) {
      $(id).addEventListener("change", () => run(list));
    }
    $("new-entry").addEventListener("click", () => openForm(null));
    $("v-edit").addEventListener("click", () => openForm(current));
    $("d-cancel").addEventListener("click", () => { $("form").hidden = true; });
    $("d-save").addEventListener("click", () => run(save));
    $("d-spoken").addEventListener("input", count);
    $("v-review").addEventListener("click", () => run(() => act("review", {version: current.latest.version})));
    $("v-publish").addEventListener("click", () => run(() => act("publish", {version: current.latest.version})));
    $("v-withdraw").addEventListener("click", () => run(() => act("withdraw", {reason: $("v-reason").value})));
    $("import-go").addEventListener("click", () => run(importFile));
    run(start);
  });
})();
