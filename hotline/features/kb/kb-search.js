// The seat page's knowledge-base search box (知识库检索): what the caller asks, typed,
// gives the published answers, the seat's own city's local entries first (the API
// decides that from the person). Reading only: GET /api/v1/kb/search.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);

  async function search() {
    const q = $("kb-q").value.trim();
    const box = $("kb-found");
    box.textContent = "";
    $("kb-none").hidden = true;
    if (!q) { return; }
    const res = await fetch("/api/v1/kb/search?q=" + encodeURIComponent(q),
      {credentials: "same-origin", headers: {"Accept": "application/json"}});
    const data = await res.json();
    if (!res.ok) { $("kb-none").textContent = data.message || "检索失败"; $("kb-none").hidden = false; return; }
    for (const f of data.found) {
      const li = document.createElement("li");
      const title = document.createElement("strong");
      title.textContent = f.question;
      li.appendChild(title);
      if (f.scope !== "province") {
        const tag = document.createElement("span");
        tag.className = "tag"; tag.textContent = f.scope + " 本地";
        li.appendChild(document.createTextNode(" "));
        li.appendChild(tag);
      }
      const answer = document.createElement("div");
      answer.className = "kb-answer"; answer.textContent = f.answer;
      li.appendChild(answer);
      const meta = document.createElement("div");
      meta.className = "muted";
      meta.textContent = f.id + " 第 " + f.version + " 版" + (f.source_number ? " · " + f.source_number : "");
      li.appendChild(meta);
      box.appendChild(li);
    }
    $("kb-none").textContent = "没有找到已发布的答案。";
    $("kb-none").hidden = data.found.length > 0;
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!$("kb-search")) { return; }
    $("kb-go").addEventListener("click", () => { search().catch(() => {}); });
    $("kb-q").addEventListener("keydown", (ev) => { if (ev.key === "Enter") { search().catch(() => {}); } });
  });
})();
