// The browser phone's SIP and WebRTC part, shared by the /phone/ page (phone.js) and the
// seat's page (workbench seat-phone.js): hotline serves it in front of each page's script.
// JsSIP (jssip.js, `make webphone`) registers over Asterisk's secure WebSocket and takes
// one call at a time with WebRTC audio (DTLS-SRTP, ICE on loopback). The password is
// handed to the SIP library only: never written into a page, a URL, the console or storage.
//
// HotlinePhone(config, audio, on) -> {register(user, password), unregister(), answer(),
// hangup(), toggleMute(), busy()}. `on.state(state, detail)` is told each state:
// registering, registered, ringing, connecting, talking, failed, unreachable, idle;
// `on.registered(first)` each registration; `on.incoming()` a call ringing; `on.ended()`
// a call's end. Milestones are performance marks (phone:register, phone:registered,
// phone:incoming, phone:answer, phone:confirmed, phone:media).
"use strict";
window.HotlinePhone = function (config, audio, on) {
  let ua = null, session = null, muted = false;
  if (window.JsSIP && JsSIP.debug) { JsSIP.debug.disable(); }  // its log would show SIP traffic

  function registered() { return ua !== null && ua.isRegistered(); }

  function stop() {
    if (ua !== null) {
      const old = ua;
      ua = null;
      old.removeAllListeners();
      try { old.stop(); } catch (e) { /* already stopped */ }
    }
  }

  function take(incoming) {
    session = incoming;
    muted = false;
    performance.mark("phone:incoming");
    incoming.on("peerconnection", ({peerconnection}) => {
      peerconnection.addEventListener("track", (event) => {
        audio.srcObject = event.streams[0] || new MediaStream([event.track]);
      });
      peerconnection.addEventListener("connectionstatechange", () => {
        if (peerconnection.connectionState === "connected") { performance.mark("phone:media"); }
      });
    });
    // The answer goes out with the first IPv4 UDP candidate instead of once the browser
    // has gathered them all (its other interfaces, IPv6, TCP: ~190 ms here, seconds on a
    // machine with a VPN): the server is on this machine, over IPv4 and UDP.
    incoming.on("icecandidate", ({candidate, ready}) => {
      const parts = candidate.candidate.split(" ");
      if (parts[2] && parts[2].toLowerCase() === "udp" && /^\d+\.\d+\.\d+\.\d+$/.test(parts[4])) {
        ready();
      }
    });
    incoming.on("confirmed", () => {
      performance.mark("phone:confirmed");
      on.state("talking");
    });
    const ended = () => {
      session = null;
      muted = false;
      audio.srcObject = null;
      on.ended();
      on.state(registered() ? "registered" : "idle");
    };
    incoming.on("ended", ended);
    incoming.on("failed", ended);
    on.incoming();
    on.state("ringing");
  }

  function register(user, password) {
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
      const first = !everRegistered;
      everRegistered = true;
      performance.mark("phone:registered");
      if (session === null) { on.state("registered"); }
      on.registered(first);
    });
    ua.on("unregistered", () => { if (ua !== null && session === null) { on.state("idle"); } });
    ua.on("registrationFailed", (event) => {
      const causes = JsSIP.C.causes;
      const wrong = event.cause === causes.AUTHENTICATION_ERROR ||
        event.cause === causes.REJECTED || event.cause === causes.NOT_FOUND;
      stop();
      on.state("failed", wrong ? "密码错误，或该座席没有浏览器话机" : String(event.cause));
    });
    ua.on("disconnected", () => {
      if (everRegistered || ua === null) {
        if (ua !== null && session === null) { on.state("registering", "连接中断，正在重连"); }
        return;
      }
      // Never connected: most often the browser does not trust the server's certificate.
      stop();
      on.state("unreachable", config.server);
    });
    ua.on("newRTCSession", ({originator, session: incoming}) => {
      if (originator !== "remote") { return; }
      if (session !== null) {
        incoming.terminate({status_code: 486, reason_phrase: "Busy Here"});
        return;
      }
      take(incoming);
    });
    on.state("registering");
    ua.start();
  }

  return {
    register,
    unregister() { stop(); on.state("idle"); },
    stop,
    answer() {
      if (session === null) { return; }
      performance.mark("phone:answer");
      on.state("connecting");
      // No STUN or TURN: the server is on this machine.
      session.answer({mediaConstraints: {audio: true, video: false}, pcConfig: {iceServers: []}});
    },
    hangup() { if (session !== null) { session.terminate(); } },
    toggleMute() {
      if (session === null) { return false; }
      muted = !muted;
      if (muted) { session.mute({audio: true}); } else { session.unmute({audio: true}); }
      return muted;
    },
    started() { return ua !== null; },
    inCall() { return session !== null; },
    muted() { return muted; },
  };
};
