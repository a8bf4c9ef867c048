// The seat's browser phone inside its page (for a seat whose device is the browser phone,
// `webrtc: true`), on the phone's shared part (HotlinePhone, phone-core.js, served in
// front of this script) and JsSIP (workbench-jssip.js, built by `make webphone`). The seat
// types its phone password; 注册话机并签入 registers the phone and, once registered, logs
// the seat in to its queues (its routing.yaml device is this phone). The password is
// handed to the SIP library only and cleared from the field: never in the page, a URL,
// the console or storage.
//
// The state is on <section id="phone" data-state=...>: idle, registering, registered,
// ringing, connecting, talking, failed, unreachable, missing (no SIP library).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const STATES = {
    idle: "未注册", registering: "正在注册……", registered: "已注册，等待来电",
    ringing: "来电振铃", connecting: "正在接通……", talking: "通话中",
    failed: "注册失败", unreachable: "无法连接话机服务器",
    missing: "话机程序未安装（make webphone）",
  };
  let config = null, phone = null, csrf = null;

  function show(state, detail) {
    const started = phone !== null && phone.started();
    const inCall = phone !== null && phone.inCall();
    $("phone").dataset.state = state;
    $("phone-status").textContent = detail ? STATES[state] + "：" + detail : STATES[state];
    $("phone-register").disabled = started || state === "missing";
    $("phone-password").disabled = started || state === "missing";
    $("phone-unregister").disabled = !started || inCall;
    $("phone-answer").disabled = state !== "ringing";
    $("phone-mute").disabled = state !== "talking";
    $("phone-hangup").disabled = !inCall;
    $("phone-mute").textContent = phone !== null && phone.muted() ? "取消静音" : "静音";
  }

  function hint(text, link) {
    const box = $("phone-hint");
    box.textContent = text || "";
    if (link) {
      const a = document.createElement("a");
      a.href = link; a.target = "_blank"; a.rel = "noopener"; a.textContent = link;
      box.appendChild(a);
    }
    box.hidden = !text;
  }

  async function login() {
    // The seat's device in routing.yaml is this phone: logging in adds it to its queues.
    const res = await fetch("/api/v1/seats/me/action", {method: "POST",
      credentials: "same-origin", headers: {"Content-Type": "application/json",
      "Accept": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify({action: "login"})});
    if (!res.ok) {
      const data = await res.json();
      hint("签入失败：" + (data.message || data.error));
    }
  }

  function register() {
    const password = $("phone-password").value;
    $("phone-password").value = "";
    if (!password) { show("idle", "请输入话机密码"); return; }
    hint("");
    phone.register(config.user, password);
  }

  function state(name, detail) {
    show(name, detail);
    if (name === "unreachable") {
      hint("若是第一次在这台电脑上使用，请先打开以下地址并信任该证书，再重新注册：",
           config.certificate_page);
    }
  }

  async function start() {
    const res = await fetch("/api/v1/seats/me/phone", {credentials: "same-origin"});
    if (!res.ok) { return; }  // not a browser-phone seat: the section stays hidden
    config = await res.json();
    const me = await fetch("/api/v1/me", {credentials: "same-origin"});
    if (!me.ok) { return; }
    csrf = (await me.json()).csrf_token;
    $("phone-user").textContent = "（" + config.user + "）";
    $("phone").hidden = false;
    if (!window.JsSIP) { show("missing"); return; }
    phone = window.HotlinePhone(config, $("phone-audio"), {
      state,
      registered(first) { if (first) { login(); } },
      incoming() {},
      ended() {},
    });
    $("phone-register").addEventListener("click", register);
    $("phone-password").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !$("phone-register").disabled) { register(); }
    });
    $("phone-unregister").addEventListener("click", () => phone.unregister());
    $("phone-answer").addEventListener("click", () => phone.answer());
    $("phone-hangup").addEventListener("click", () => phone.hangup());
    $("phone-mute").addEventListener("click", () => {
      if (!phone.inCall()) { return; }
      show("talking", phone.toggleMute() ? "已静音" : "");
    });
    window.addEventListener("beforeunload", () => phone.stop());
    show("idle");
  }
  document.addEventListener("DOMContentLoaded", start);
})();
