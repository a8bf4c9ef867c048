"""The browser phone: a seat on a headset and a browser (WebRTC over Asterisk's WSS)."""
