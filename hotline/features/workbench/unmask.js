// The auditor's page: one record unmasked with a reason (POST /api/v1/.../unmask). What
// it shows is never stored: a reload shows nothing.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const CATEGORIES = {consultation: "税务咨询", tip_off: "涉税举报", complaint: "涉税投诉",
                      suggestion: "意见和建议", other: "其他"};
  let csrf = null;

  function message(text) {
    $("message").textContent = text || "";
    $("message").hidden = !text;
  }

  async function unmask(event) {
    event.preventDefault();
    message("");
    $("result").hidden = true;
    const kind = $("kind").value, id = $("record").value.trim();
    if (!id) { message("请填写通话编号或留言编号"); return; }
    const path = (kind === "call" ? "/calls/" : "/voicemail/") + encodeURIComponent(id) + "/unmask";
    const res = await fetch("/api/v1" + path, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRF-Token": csrf},
      body: JSON.stringify({reason: $("reason").value})});
    const data = await res.json();
    if (!res.ok) { message("无法查看：" + (data.message || data.error)); return; }
    $("r-id").textContent = kind === "call" ? data.linkedid : "#" + data.id;
    $("r-number").textContent = data.caller_number || "未知号码";
    $("r-name").textContent = data.caller_name || "-";
    $("r-category").textContent = CATEGORIES[data.category] || "未分类";
    $("r-started").textContent = (data.started_at || "").slice(0, 19).replace("T", " ");
    $("r-callback").textContent = (data.entry && data.entry.callback_number) || "-";
    $("result").hidden = false;
  }

  async function start() {
    const res = await fetch("/api/v1/me", {credentials: "same-origin"});
    if (!res.ok) { location.href = "/login"; return; }
    csrf = (await res.json()).csrf_token;
    $("form").addEventListener("submit", unmask);
  }
  document.addEventListener("DOMContentLoaded", start);
})();
