// The browser phone of a 12366 seat (hotline's /phone/ page): SIP over a secure WebSocket
// to Asterisk, WebRTC media (DTLS-SRTP, ICE), with JsSIP (jssip.js, built by
// `make webphone`). The seat's password is read from the field when the seat registers,
// handed to the SIP library for its digest answers and cleared from the field: it is
// never written into the page, a URL, the console or storage.
//
// What the page shows is also on <body data-state=...>: loading, unconfigured, idle,
// registering, registered, ringing, connecting, talking, failed, unreachable.
// Milestones are performance marks (phone:register, phone:registered, phone:incoming,
// phone:answer, phone:confirmed, phone:media), for the browser's developer tools and
// the tests.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const seatBox = $("seat"), passwordBox = $("password"), statusBox = $("status");
  const hintBox = $("hint"), remoteAudio = $("remote");
  const buttons = {
    register: $("register"), unregister: $("unregister"), answer: $("answer"),
    mute: $("mute"), hangup: $("hangup"),
  };
  const STATES = {
    loading: "正在加载……",
    unconfigured: "未配置浏览器话机",
    idle: "未注册",
    registering: "正在注册……",
    registered: "已注册，等待来电",
    ringing: "来电",
    connecting: "正在接通……",
    talking: "通话中",
    failed: "注册失败",
    unreachable: "无法连接话机服务器",
  };
  let config = null, phone = null, ringer = null;

  function show(state, detail) {
    document.body.dataset.state = state;
    statusBox.textContent = detail ? `${STATES[state]}：${detail}` : STATES[state];
    const started = phone !== null && phone.started();
    const inCall = phone !== null && phone.inCall();
    seatBox.disabled = passwordBox.disabled = started || !config || !config.seats.length;
    buttons.register.disabled = started || !config || !config.seats.length;
    buttons.unregister.disabled = !started || inCall;
    buttons.answer.disabled = state !== "ringing";
    buttons.mute.disabled = state !== "talking";
    buttons.hangup.disabled = !inCall;
    buttons.mute.textContent = phone !== null && phone.muted() ? "取消静音" : "静音";
  }

  function hint(html) {
    hintBox.classList.toggle("hidden", !html);
    hintBox.innerHTML = html || "";
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  // A ring (450 Hz, 1 s on, 4 s off, as Chinese phones ring) from the page itself; the
  // audio context is made on the seat's click on 注册 (browsers allow sound after one).
  function makeRinger() {
    let context = null, timer = null;
    function beep() {
      if (!context) return;
      const tone = context.createOscillator(), gain = context.createGain();
      tone.frequency.value = 450;
      gain.gain.value = 0.2;
      tone.connect(gain).connect(context.destination);
      tone.start();
      tone.stop(context.currentTime + 1);
    }
    return {
      prepare() {
        try { context = context || new AudioContext(); } catch (e) { context = null; }
      },
      start() { if (timer === null) { beep(); timer = setInterval(beep, 5000); } },
      stop() { if (timer !== null) { clearInterval(timer); timer = null; } },
    };
  }

  async function load() {
    ringer = makeRinger();
    try {
      const response = await fetch("api/config", { cache: "no-store" });
      config = await response.json();
    } catch (e) {
      config = null;
      show("unconfigured", "无法读取配置，请刷新页面");
      return;
    }
    if (!window.JsSIP) {
      show("unconfigured", "话机程序未安装（make webphone）");
      return;
    }
    if (!config.server) {
      show("unconfigured", "没有话机服务器地址（web.phone_server）");
      return;
    }
    for (const seat of config.seats) {
      const option = document.createElement("option");
      option.value = seat.user;
      option.textContent = `${seat.seat} ${seat.name}`;
      seatBox.appendChild(option);
    }
    if (!config.seats.length) {
      show("unconfigured", "没有使用浏览器话机的座席（routing.yaml: webrtc: true）");
      return;
    }
    phone = window.HotlinePhone(config, remoteAudio, {
      state,
      registered() {},
      incoming() { ringer.start(); },
      ended() { ringer.stop(); },
    });
    show("idle");
  }

  function register() {
    const user = seatBox.value, password = passwordBox.value;
    passwordBox.value = "";
    if (!password) {
      show("idle", "请输入话机密码");
      return;
    }
    ringer.prepare();
    hint("");
    phone.register(user, password);
  }

  function state(name, detail) {
    show(name, detail);
    if (name === "unreachable") {
      const page = escapeHtml(config.certificate_page);
      hint(`若是第一次在这台电脑上使用，请先打开 <a href="${page}" target="_blank" ` +
           `rel="noopener">${page}</a> 并信任该证书，再回到本页重新注册。`);
    }
  }

  buttons.register.addEventListener("click", register);
  passwordBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !buttons.register.disabled) register();
  });
  buttons.unregister.addEventListener("click", () => phone.unregister());
  buttons.answer.addEventListener("click", () => { ringer.stop(); phone.answer(); });
  buttons.hangup.addEventListener("click", () => phone.hangup());
  buttons.mute.addEventListener("click", () => {
    if (!phone.inCall()) return;
    const muted = phone.toggleMute();
    show("talking", muted ? "已静音" : "");
  });
  window.addEventListener("beforeunload", () => { if (phone !== null) phone.stop(); });
  load();
})();
