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
  let config = null, ua = null, session = null, muted = false, ringer = null;

  if (window.JsSIP && JsSIP.debug) JsSIP.debug.disable();  // its log would show SIP traffic

  function show(state, detail) {
    document.body.dataset.state = state;
    statusBox.textContent = detail ? `${STATES[state]}：${detail}` : STATES[state];
    const registered = ua !== null && ua.isRegistered();
    seatBox.disabled = passwordBox.disabled = ua !== null || !config || !config.seats.length;
    buttons.register.disabled = ua !== null || !config || !config.seats.length;
    buttons.unregister.disabled = ua === null || session !== null;
    buttons.answer.disabled = state !== "ringing";
    buttons.mute.disabled = state !== "talking";
    buttons.hangup.disabled = session === null;
    buttons.mute.textContent = muted ? "取消静音" : "静音";
    if (state === "registered" && !registered) buttons.unregister.disabled = false;
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
    performance.mark("phone:register");
    ua = new JsSIP.UA({
      sockets: [new JsSIP.WebSocketInterface(config.server)],
      uri: `sip:${user}@${config.domain}`,
      authorization_user: user,
      password: password,
      register: true,
      register_expires: 120,
      session_timers: false,
      user_agent: "hotline-webphone",
      connection_recovery_min_interval: 2,
      connection_recovery_max_interval: 30,
    });
    let everRegistered = false;
    ua.on("registered", () => {
      everRegistered = true;
      performance.mark("phone:registered");
      if (session === null) show("registered");
    });
    ua.on("unregistered", () => { if (ua !== null && session === null) show("idle"); });
    ua.on("registrationFailed", (event) => {
      const causes = JsSIP.C.causes;
      const wrong = event.cause === causes.AUTHENTICATION_ERROR ||
        event.cause === causes.REJECTED || event.cause === causes.NOT_FOUND;
      stop();
      show("failed", wrong ? "密码错误，或该座席没有浏览器话机" : String(event.cause));
    });
    ua.on("disconnected", () => {
      if (everRegistered || ua === null) {
        if (ua !== null && session === null) show("registering", "连接中断，正在重连");
        return;
      }
      // Never connected: most often the browser does not trust the server's certificate.
      stop();
      show("unreachable", config.server);
      const page = escapeHtml(config.certificate_page);
      hint(`若是第一次在这台电脑上使用，请先打开 <a href="${page}" target="_blank" ` +
           `rel="noopener">${page}</a> 并信任该证书，再回到本页重新注册。`);
    });
    ua.on("newRTCSession", ({ originator, session: incoming }) => {
      if (originator !== "remote") return;
      if (session !== null) {
        incoming.terminate({ status_code: 486, reason_phrase: "Busy Here" });
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
    incoming.on("peerconnection", ({ peerconnection }) => {
      peerconnection.addEventListener("track", (event) => {
        remoteAudio.srcObject = event.streams[0] || new MediaStream([event.track]);
      });
      peerconnection.addEventListener("connectionstatechange", () => {
        if (peerconnection.connectionState === "connected") performance.mark("phone:media");
      });
    });
    // The answer goes out with the first IPv4 UDP candidate instead of once the browser
    // has gathered them all (its other interfaces, IPv6, TCP: ~190 ms here, seconds on a
    // machine with a VPN): the server is on this machine, over IPv4 and UDP.
    incoming.on("icecandidate", ({ candidate, ready }) => {
      const parts = candidate.candidate.split(" ");
      if (parts[2] && parts[2].toLowerCase() === "udp" && /^\d+\.\d+\.\d+\.\d+$/.test(parts[4])) {
        ready();
      }
    });
    incoming.on("confirmed", () => {
      performance.mark("phone:confirmed");
      ringer.stop();
      show("talking");
    });
    const ended = () => {
      ringer.stop();
      session = null;
      muted = false;
      remoteAudio.srcObject = null;
      show(ua !== null && ua.isRegistered() ? "registered" : "idle");
    };
    incoming.on("ended", ended);
    incoming.on("failed", ended);
    show("ringing");
    ringer.start();
  }

  function answer() {
    if (session === null) return;
    performance.mark("phone:answer");
    ringer.stop();
    show("connecting");
    session.answer({
      mediaConstraints: { audio: true, video: false },
      // No STUN or TURN: the server is on this machine.
      pcConfig: { iceServers: [] },
    });
  }

  function stop() {
    if (ua !== null) {
      const old = ua;
      ua = null;
      old.removeAllListeners();
      try { old.stop(); } catch (e) { /* already stopped */ }
    }
  }

  buttons.register.addEventListener("click", register);
  passwordBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !buttons.register.disabled) register();
  });
  buttons.unregister.addEventListener("click", () => { stop(); show("idle"); });
  buttons.answer.addEventListener("click", answer);
  buttons.hangup.addEventListener("click", () => {
    if (session !== null) session.terminate();
  });
  buttons.mute.addEventListener("click", () => {
    if (session === null) return;
    muted = !muted;
    if (muted) session.mute({ audio: true }); else session.unmute({ audio: true });
    show("talking", muted ? "已静音" : "");
  });
  window.addEventListener("beforeunload", stop);
  load();
})();
