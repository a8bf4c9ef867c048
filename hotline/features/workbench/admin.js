// The administrator's page: accounts over /api/v1/users, the configuration in force
// from /api/v1/config. No build step.
"use strict";
(function () {
  const ROLES = {seat: "座席", expert: "专家", leader: "班长", liaison: "联络员",
                 admin: "管理员", auditor: "审计员"};
  const NO_ANSWER = {voicemail: "转留言", callback: "登记回拨", hangup: "挂断"};
  let csrf = null;
  let me = null;
  let config = null;
  let editing = null;  // the username being edited, or null for a new account
  const $ = (id) => document.getElementById(id);

  function message(text) {
    $("message").textContent = text || "";
    $("message").hidden = !text;
  }

  async function api(method, path, body) {
    const headers = {"Accept": "application/json"};
    if (method !== "GET") { headers["X-CSRF-Token"] = csrf; headers["Content-Type"] = "application/json"; }
    const res = await fetch("/api/v1" + path, {method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)});
    const data = await res.json();
    if (!res.ok) {
      throw new Error(data.error === "role-required" ? "无权访问（需要管理员角色）"
                      : (data.message || data.error || String(res.status)));
    }
    return data;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined || text === "" ? "-" : String(text);
    row.appendChild(td);
    return td;
  }

  function rows(table, items, cells) {
    const body = $(table).querySelector("tbody");
    body.textContent = "";
    for (const item of items) {
      const tr = document.createElement("tr");
      cells(tr, item);
      body.appendChild(tr);
    }
  }

  function button(parent, text, onClick, cls) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = text; b.className = "small " + (cls || "");
    b.addEventListener("click", onClick);
    parent.appendChild(b);
  }

  function showSecret(username, password) {
    $("secret-text").textContent = username + " 的一次性密码：" + password;
    $("secret").hidden = false;
  }

  async function loadUsers() {
    const users = await api("GET", "/users");
    rows("users", users, (tr, u) => {
      tr.dataset.username = u.username;
      cell(tr, u.username); cell(tr, u.display_name);
      cell(tr, u.roles.map((r) => ROLES[r] || r).join("、"));
      cell(tr, u.seat); cell(tr, groupName(u.bureau)); cell(tr, u.department);
      cell(tr, u.disabled ? "已停用" : "正常");
      const ops = cell(tr, "");
      ops.textContent = "";
      button(ops, "编辑", () => startEdit(u));
      button(ops, "重置密码", () => act(async () => {
        const r = await api("POST", "/users/" + encodeURIComponent(u.username) + "/password");
        showSecret(r.username, r.one_time_password);
      }));
      if (u.username !== me.username) {
        button(ops, u.disabled ? "启用" : "停用", () => act(async () => {
          await api("PATCH", "/users/" + encodeURIComponent(u.username),
                    {disabled: !u.disabled});
          await loadUsers();
        }), "plain");
      }
    });
  }

  function groupName(id) {
    if (!id) { return null; }
    const g = config && config.groups.find((x) => x.id === id);
    return g ? g.name : id;
  }

  function options(select, items, selected) {
    select.textContent = "";
    for (const [value, label] of [["", "无"]].concat(items)) {
      const o = document.createElement("option");
      o.value = value; o.textContent = label;
      select.appendChild(o);
    }
    select.value = selected || "";
  }

  function resetForm() {
    editing = null;
    $("edit-title").textContent = "新建账号";
    $("u-save").textContent = "创建";
    $("u-cancel").hidden = true;
    $("u-username").disabled = false;
    $("edit").reset();
    fillForm({roles: [], seat: null, bureau: null});
  }

  function fillForm(u) {
    const box = $("u-roles");
    box.textContent = "";
    for (const [code, label] of Object.entries(ROLES)) {
      const l = document.createElement("label");
      const c = document.createElement("input");
      c.type = "checkbox"; c.value = code; c.id = "role-" + code;
      c.checked = u.roles.includes(code);
      l.appendChild(c); l.appendChild(document.createTextNode(" " + label + " "));
      box.appendChild(l);
    }
    options($("u-seat"), (config ? config.seats : []).map((s) => [s.id, s.id + " " + s.name]),
            u.seat);
    options($("u-bureau"), (config ? config.groups : []).map((g) => [g.id, g.name]), u.bureau);
  }

  function startEdit(u) {
    editing = u.username;
    $("edit-title").textContent = "编辑账号 " + u.username;
    $("u-save").textContent = "保存";
    $("u-cancel").hidden = false;
    $("u-username").value = u.username;
    $("u-username").disabled = true;
    $("u-name").value = u.display_name || "";
    $("u-department").value = u.department || "";
    fillForm(u);
    $("edit-box").scrollIntoView();
  }

  async function save(event) {
    event.preventDefault();
    const roles = Array.from(document.querySelectorAll("#u-roles input:checked"))
      .map((c) => c.value);
    const body = {roles, display_name: $("u-name").value.trim() || undefined};
    for (const [key, id] of [["seat", "u-seat"], ["bureau", "u-bureau"],
                             ["department", "u-department"]]) {
      const v = $(id).value.trim();
      if (v) { body[key] = v; } else if (editing) { body[key] = null; }
    }
    await act(async () => {
      if (editing) {
        await api("PATCH", "/users/" + encodeURIComponent(editing), body);
      } else {
        body.username = $("u-username").value.trim();
        const r = await api("POST", "/users", body);
        showSecret(r.user.username, r.one_time_password);
      }
      resetForm();
      await loadUsers();
    });
  }

  async function act(work) {
    message("");
    try { await work(); } catch (e) { message("操作失败：" + e.message); }
  }

  function renderConfig(c) {
    $("generation").textContent = "（第 " + c.generation + " 次加载）";
    rows("dialplans", c.dialplans, (tr, d) => {
      cell(tr, d.name); cell(tr, d.version); cell(tr, d.menus); cell(tr, d.prompts);
    });
    rows("queues", c.queues, (tr, q) => {
      cell(tr, q.id); cell(tr, q.name); cell(tr, q.ring_timeout + " 秒");
      cell(tr, q.max_wait + " 秒"); cell(tr, NO_ANSWER[q.on_no_answer] || q.on_no_answer);
    });
    rows("groups", c.groups, (tr, g) => {
      cell(tr, g.id); cell(tr, g.name); cell(tr, g.remote ? "远程座席（市局）" : "省局中心");
      cell(tr, g.area_codes.join("、"));
    });
    rows("seats", c.seats, (tr, s) => {
      cell(tr, s.id); cell(tr, s.name); cell(tr, s.group_name);
      cell(tr, s.device + (s.webrtc ? "（网页话机）" : ""));
      cell(tr, s.skills.map((k) => k.queue_name + " " + k.level).join("、"));
    });
    rows("calendar", c.calendar, (tr, d) => {
      cell(tr, d.date); cell(tr, d.label); cell(tr, d.working ? d.hours : "不开放");
    });
  }

  async function start() {
    try {
      me = await api("GET", "/me");
      csrf = me.csrf_token;
      config = await api("GET", "/config");
      renderConfig(config);
      resetForm();
      await loadUsers();
    } catch (e) {
      message("无法加载：" + e.message);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("edit").addEventListener("submit", save);
    $("u-cancel").addEventListener("click", resetForm);
    start();
  });
})();
