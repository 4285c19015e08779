// The cairn page: ask with a streamed answer and clickable citations, and search with
// filters. Plain DOM and fetch; every request carries the API key typed here (if any).
"use strict";
const $ = (id) => document.getElementById(id);
const state = { sources: [], cited: [] };

function headers() {
  const h = { "content-type": "application/json" };
  const key = $("key").value.trim();
  if (key) h["authorization"] = "Bearer " + key;
  return h;
}

function status(text, error) {
  $("status").textContent = text || "";
  $("status").className = error ? "error" : "";
}

async function api(path, body) {
  const r = await fetch(path, body === undefined ? { headers: headers() }
    : { method: "POST", headers: headers(), body: JSON.stringify(body) });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error.message; } catch (_) {}
    throw new Error(msg);
  }
  return r;
}

async function load() {
  $("key").value = localStorage.getItem("cairn-key") || "";
  try {
    const cols = await (await api("/v1/collections")).json();
    $("collection").replaceChildren(...cols.data.map((c) => new Option(c.name, c.name)));
    const models = await (await api("/v1/models")).json();
    const chat = models.data.filter((m) => m.id.includes(":") && !m.id.startsWith("rag:"));
    $("model").replaceChildren(...chat.map((m) => new Option(m.id, m.id)));
    status(cols.data.length ? "" : "The server has no collections.");
  } catch (e) {
    status(e.message, true);
  }
}

function where(s) {
  let w = s.source;
  for (const h of s.heading_path || []) w += " › " + h;
  if (s.page) w += " (page " + s.page + ")";
  return w;
}

// The answer text with each [n] a link that shows source n.
function renderAnswer(text) {
  const out = $("answer");
  out.replaceChildren();
  const re = /\[(\d+)\]/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    out.append(text.slice(last, m.index));
    const n = Number(m[1]);
    const a = document.createElement("a");
    a.href = "#source-" + n;
    a.className = "cite";
    a.dataset.n = n;
    a.textContent = "[" + n + "]";
    a.setAttribute("aria-label", "Show source " + n);
    a.addEventListener("click", (ev) => { ev.preventDefault(); showSource(n); });
    out.append(a);
    last = re.lastIndex;
  }
  out.append(text.slice(last));
}

function renderSources() {
  $("sources").replaceChildren(...state.sources.map((s) => {
    const li = document.createElement("li");
    li.value = s.n;
    li.id = "source-" + s.n;
    if (state.cited.includes(s.n)) li.className = "cited";
    const b = document.createElement("button");
    b.type = "button";
    b.className = "source-link";
    b.textContent = where(s);
    b.addEventListener("click", () => showSource(s.n));
    li.append(b);
    return li;
  }));
}

// Shows source n's passage, the sentences of the answer that cite it highlighted in it.
function showSource(n) {
  const s = state.sources.find((x) => x.n === n);
  if (!s) return;
  const box = $("passage");
  const w = document.createElement("p");
  w.className = "where";
  w.textContent = "[" + n + "] " + where(s) + (s.title ? " — " + s.title : "");
  const mark = document.createElement("mark");
  mark.id = "passage-text";
  mark.textContent = s.text;
  box.replaceChildren(w, mark);
  box.dataset.n = n;
  box.focus();
}

async function ask(ev) {
  ev.preventDefault();
  localStorage.setItem("cairn-key", $("key").value.trim());
  const question = $("question").value.trim();
  if (!question) return;
  state.sources = []; state.cited = [];
  $("answer").textContent = ""; $("facts").textContent = "";
  $("sources").replaceChildren(); $("passage").replaceChildren();
  $("ask-button").disabled = true;
  status("Asking…");
  let text = "";
  try {
    const r = await api("/v1/ask", { collection: $("collection").value || undefined,
      model: $("model").value || undefined, question, stream: true });
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i); buf = buf.slice(i + 2);
        let kind = "message", data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) kind = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (!data) continue;
        const msg = JSON.parse(data);
        if (kind === "sources") { state.sources = msg.sources; renderSources(); }
        else if (kind === "text_delta") { text += msg.text; renderAnswer(text); }
        else if (kind === "restart") { text = ""; renderAnswer(text); }
        else if (kind === "error") { throw new Error(msg.error.message); }
        else if (kind === "done") {
          state.sources = msg.sources; state.cited = msg.citations.cited || [];
          renderAnswer(msg.answer); renderSources();
          const u = msg.usage || {};
          $("facts").textContent = msg.model ? "answered by " + msg.model + " · " +
            (u.input_tokens || 0) + " in / " + (u.output_tokens || 0) + " out tokens · " +
            (msg.cost_usd == null ? "no price" : "$" + msg.cost_usd.toFixed(6)) + " · " +
            state.cited.length + " of " + state.sources.length + " sources cited"
            : "nothing relevant was found; the model was not asked";
        }
      }
    }
    status("");
  } catch (e) {
    status(e.message, true);
  } finally {
    $("ask-button").disabled = false;
  }
}

async function search(ev) {
  ev.preventDefault();
  localStorage.setItem("cairn-key", $("key").value.trim());
  const body = { collection: $("collection").value || undefined, query: $("query").value, k: 10 };
  if ($("filter").value.trim()) body.filter = $("filter").value.trim();
  if ($("mode").value) body.mode = $("mode").value;
  status("Searching…");
  try {
    const res = await (await api("/v1/search", body)).json();
    $("hits").replaceChildren(...res.data.map((h) => {
      const li = document.createElement("li");
      const w = document.createElement("p");
      w.className = "where";
      w.textContent = where(h) + " · score " + h.score.toFixed(3);
      const t = document.createElement("p");
      t.textContent = h.text;
      li.append(w, t);
      return li;
    }));
    status(res.data.length ? res.mode + " search: " + res.data.length + " hits" : "No hits.");
  } catch (e) {
    status(e.message, true);
  }
}

function tab(which) {
  for (const v of ["ask", "search"]) {
    $("view-" + v).hidden = v !== which;
    $("tab-" + v).setAttribute("aria-pressed", String(v === which));
  }
}

$("tab-ask").addEventListener("click", () => tab("ask"));
$("tab-search").addEventListener("click", () => tab("search"));
$("ask-form").addEventListener("submit", ask);
$("search-form").addEventListener("submit", search);
$("question").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("ask-form").requestSubmit(); }
});
$("key").addEventListener("change", () => { localStorage.setItem("cairn-key", $("key").value.trim()); load(); });
load();
