// The seat's browser phone inside its page (for a seat whose device is the browser phone,
// `webrtc: true`): SIP over Asterisk's secure WebSocket and WebRTC audio with JsSIP
// (workbench-jssip.js, built by `make webphone`), as the /phone/ page does it. The seat
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
  let config = null, ua = null, session = null, muted = false, csrf = null;

  function show(state, detail) {
    $("phone").dataset.state = state;
    $("phone-status").textContent = detail ? STATES[state] + "：" + detail : STATES[state];
    $("phone-register").disabled = ua !== null || state === "missing";
    $("phone-password").disabled = ua !== null || state === "missing";
    $("phone-unregister").disabled = ua === null || session !== null;
    $("phone-answer").disabled = state !== "ringing";
    $("phone-mute").disabled = state !== "talking";
    $("phone-hangup").disabled = session === null;
    $("phone-mute").textContent = muted ? "取消静音" : "静音";
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
    performance.mark("phone:register");
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(config.server)],
      uri: "sip:" + config.user + "@" + config.domain,
      authorization_user: config.user,
      password: password,
      register: true, register_expires: 120, session_timers: false,
      user_agent: "hotline-workbench",
      connection_recovery_min_interval: 2, connection_recovery_max_interval: 30,
    });
    let everRegistered = false;
    ua.on("registered", () => {
      const first = !everRegistered;
      everRegistered = true;
      performance.mark("phone:registered");
      if (session === null) { show("registered"); }
      if (first) { login(); }
    });
    ua.on("unregistered", () => { if (ua !== null && session === null) { show("idle"); } });
    ua.on("registrationFailed", (event) => {
      const causes = JsSIP.C.causes;
      const wrong = event.cause === causes.AUTHENTICATION_ERROR ||
        event.cause === causes.REJECTED || event.cause === causes.NOT_FOUND;
      stop();
      show("failed", wrong ? "密码错误" : String(event.cause));
    });
    ua.on("disconnected", () => {
      if (everRegistered || ua === null) {
        if (ua !== null && session === null) { show("registering", "连接中断，正在重连"); }
        return;
      }
      stop();
      show("unreachable", config.server);
      hint("若是第一次在这台电脑上使用，请先打开以下地址并信任该证书，再重新注册：",
           config.certificate_page);
    });
    ua.on("newRTCSession", ({originator, session: incoming}) => {
      if (originator !== "remote") { return; }
      if (session !== null) {
        incoming.terminate({status_code: 486, reason_phrase: "Busy Here"});
        return;
      }
      take(incoming);
    });
    show("registering");
    ua.start();
  }

  function take(incoming) {
    session = incoming;
    muted = false;
    performance.mark("phone:incoming");
    incoming.on("peerconnection", ({peerconnection}) => {
      peerconnection.addEventListener("track", (event) => {
        $("phone-audio").srcObject = event.streams[0] || new MediaStream([event.track]);
      });
      peerconnection.addEventListener("connectionstatechange", () => {
        if (peerconnection.connectionState === "connected") { performance.mark("phone:media"); }
      });
    });
    // Answer with the first IPv4 UDP candidate (the server is on this machine).
    incoming.on("icecandidate", ({candidate, ready}) => {
      const parts = candidate.candidate.split(" ");
      if (parts[2] && parts[2].toLowerCase() === "udp" && /^\d+\.\d+\.\d+\.\d+$/.test(parts[4])) {
        ready();
      }
    });
    incoming.on("confirmed", () => { performance.mark("phone:confirmed"); show("talking"); });
    const ended = () => {
      session = null;
      muted = false;
      $("phone-audio").srcObject = null;
      show(ua !== null && ua.isRegistered() ? "registered" : "idle");
    };
    incoming.on("ended", ended);
    incoming.on("failed", ended);
    show("ringing");
  }

  function answer() {
    if (session === null) { return; }
    performance.mark("phone:answer");
    show("connecting");
    session.answer({mediaConstraints: {audio: true, video: false}, pcConfig: {iceServers: []}});
  }

  function stop() {
    if (ua !== null) {
      const old = ua;
      ua = null;
      old.removeAllListeners();
      try { old.stop(); } catch (e) { /* already stopped */ }
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
    if (JsSIP.debug) { JsSIP.debug.disable(); }  // its log would show SIP traffic
    $("phone-register").addEventListener("click", register);
    $("phone-password").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !$("phone-register").disabled) { register(); }
    });
    $("phone-unregister").addEventListener("click", () => { stop(); show("idle"); });
    $("phone-answer").addEventListener("click", answer);
    $("phone-hangup").addEventListener("click", () => { if (session !== null) { session.terminate(); } });
    $("phone-mute").addEventListener("click", () => {
      if (session === null) { return; }
      muted = !muted;
      if (muted) { session.mute({audio: true}); } else { session.unmute({audio: true}); }
      show("talking", muted ? "已静音" : "");
    });
    window.addEventListener("beforeunload", stop);
    show("idle");
  }
  document.addEventListener("DOMContentLoaded", start);
})();
