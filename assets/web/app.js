/* app.js — the kiosk page: choose a procedure, fill it, check the scenes, make the video,
 * watch progress, play it; history with re-run. Talks only to this kiosk's JSON API
 * (docs/kiosk.md). No outside resources. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const token = new URLSearchParams(location.search).get("token") || "";

  // ------------------------------------------------------------ API helpers
  function withToken(url) {
    if (!token) return url;
    return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
  }
  async function api(method, url, body) {
    const opt = { method, headers: {} };
    if (token) opt.headers["X-Tav-Token"] = token;
    if (method === "POST") {
      opt.headers["Content-Type"] = "application/json";
      opt.body = JSON.stringify(body === undefined ? {} : body);
    }
    let res;
    try {
      res = await fetch(url, opt);
    } catch (e) {
      return { status: 0, data: { error: "The kiosk service does not answer. Is it running?" } };
    }
    let data = {};
    try { data = await res.json(); } catch (e) { data = { error: "Unexpected answer from the kiosk." }; }
    return { status: res.status, data };
  }

  // ------------------------------------------------------------ views
  const views = ["step-choose", "step-fill", "step-review", "step-run", "history"];
  function show(...ids) {
    for (const v of views) $(v).hidden = !ids.includes(v);
    $("nav-new").classList.toggle("active", !ids.includes("history"));
    $("nav-history").classList.toggle("active", ids.includes("history"));
    window.scrollTo(0, 0);
  }

  let templates = [];
  let current = null;      // the chosen template
  let values = {};         // field name -> string
  let filled = null;       // last /api/fill answer
  let source = null;       // EventSource of the running job
  let runningJob = 0;

  // ------------------------------------------------------------ 1. procedures
  async function loadStatus() {
    const r = await api("GET", "/api/status");
    if (r.status === 200 && !r.data.engine) {
      $("banner").textContent =
        "The video engine is not installed on this terminal yet (" + r.data.engine_status +
        "). You can prepare procedures, but videos will not be made.";
      $("banner").hidden = false;
    } else if (r.status !== 200) {
      $("banner").textContent = r.data.error || "The kiosk service has a problem.";
      $("banner").hidden = false;
    }
  }

  async function loadTemplates() {
    const r = await api("GET", "/api/templates");
    const box = $("procedures");
    box.textContent = "";
    if (r.status !== 200) {
      box.textContent = r.data.error || "The procedures could not be loaded.";
      return;
    }
    templates = r.data.templates;
    for (const t of templates) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "card";
      b.dataset.id = t.id;
      b.setAttribute("role", "listitem");
      const s = document.createElement("strong");
      s.textContent = t.title;
      const d = document.createElement("span");
      d.textContent = t.description;
      b.append(s, d);
      b.addEventListener("click", () => choose(t));
      box.append(b);
    }
  }

  // ------------------------------------------------------------ 2. fields
  function choose(t) {
    current = t;
    values = {};
    $("seed").value = "";  // a seed typed for one video is not meant for the next
    $("fill-title").textContent = t.title;
    $("fill-desc").textContent = t.description;
    const form = $("fields");
    form.textContent = "";
    for (const f of t.fields) {
      const wrap = document.createElement("div");
      wrap.className = "field";
      const err = document.createElement("p");
      err.className = "error";
      err.id = "e-" + f.name;
      err.setAttribute("role", "alert");
      if (f.type === "choice") {
        const lab = document.createElement("div");
        lab.className = "label";
        lab.textContent = f.label + (f.required ? "" : " (optional)");
        const row = document.createElement("div");
        row.className = "choices";
        row.setAttribute("role", "group");
        row.setAttribute("aria-label", f.label);
        for (const c of f.choices) {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = c;
          b.dataset.field = f.name;
          b.dataset.value = c;
          b.setAttribute("aria-pressed", "false");
          b.addEventListener("click", () => {
            values[f.name] = c;
            for (const o of row.children) o.setAttribute("aria-pressed", String(o === b));
            validate();
          });
          row.append(b);
        }
        wrap.append(lab, row);
        if (f.default) {
          values[f.name] = f.default;
          for (const o of row.children) o.setAttribute("aria-pressed", String(o.dataset.value === f.default));
        }
      } else {
        const lab = document.createElement("label");
        lab.htmlFor = "f-" + f.name;
        lab.textContent = f.label + (f.required ? "" : " (optional)");
        const inp = document.createElement("input");
        inp.id = "f-" + f.name;
        inp.name = f.name;
        inp.type = f.type === "number" ? "number" : "text";
        if (f.type === "number") {
          inp.inputMode = f.integer ? "numeric" : "decimal";
          if (f.min !== undefined) inp.min = f.min;
          if (f.max !== undefined) inp.max = f.max;
        } else {
          inp.maxLength = f.max_length;
        }
        if (f.example) inp.placeholder = "for example " + f.example;
        if (f.default) { inp.value = f.default; values[f.name] = f.default; }
        inp.addEventListener("input", () => { values[f.name] = inp.value; validate(); });
        wrap.append(lab, inp);
      }
      if (f.help) {
        const h = document.createElement("p");
        h.className = "help";
        h.textContent = f.help;
        wrap.append(h);
      }
      wrap.append(err);
      form.append(wrap);
    }
    show("step-fill");
    validate(true);
  }

  // The same rules as the server's filler (kiosk/template.c), in plain words.
  function checkField(f, raw) {
    const v = (raw || "").trim();
    if (!v) return f.required ? f.label + " is required." : "";
    if (f.type === "number") {
      if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return f.label + " must be a number.";
      const n = Number(v);
      if (f.integer && !Number.isInteger(n)) return f.label + " must be a whole number.";
      const lo = f.min, hi = f.max;
      if ((lo !== undefined && n < lo) || (hi !== undefined && n > hi)) {
        if (lo !== undefined && hi !== undefined) return f.label + " must be between " + lo + " and " + hi + ".";
        return lo !== undefined ? f.label + " must be at least " + lo + "." : f.label + " must be at most " + hi + ".";
      }
    } else if (f.type === "text") {
      if (v.length > f.max_length) return f.label + " is too long (" + v.length + " characters; at most " + f.max_length + ").";
      if (/[{}\u0000-\u001f]/.test(v)) return f.label + " contains characters that are not allowed.";
      if (f.pattern) {
        let ok = true;
        try { ok = new RegExp("^(?:" + f.pattern + ")$").test(v); } catch (e) { ok = true; }
        if (!ok) return f.label + " does not have the expected form" + (f.help ? ": " + f.help : "") + ".";
      }
    }
    return "";
  }

  let fillTimer = 0;
  function validate(quiet) {
    let bad = 0;
    for (const f of current.fields) {
      const msg = checkField(f, values[f.name]);
      const touched = values[f.name] !== undefined && values[f.name] !== "";
      $("e-" + f.name).textContent = quiet && !touched ? "" : msg;
      const inp = $("f-" + f.name);
      if (inp) inp.setAttribute("aria-invalid", String(!!msg && (!quiet || touched)));
      if (msg) bad++;
    }
    $("to-review").disabled = bad > 0;
    // The server has the last word (e.g. a template edited since the page loaded).
    clearTimeout(fillTimer);
    if (!bad) fillTimer = setTimeout(serverFill, 250);
    return bad === 0;
  }

  async function serverFill() {
    const r = await api("POST", "/api/fill", { template: current.id, values });
    if (r.status === 200) {
      filled = r.data;
      $("to-review").disabled = false;
      return true;
    }
    filled = null;
    $("to-review").disabled = true;
    if (r.data.errors) {
      for (const e of r.data.errors) {
        const el = $("e-" + e.field);
        if (el) el.textContent = e.message;
      }
    } else {
      $("banner").textContent = r.data.error || "The procedure could not be filled.";
      $("banner").hidden = false;
    }
    return false;
  }

  // ------------------------------------------------------------ 3. scenes
  async function toReview() {
    if (!validate() || !(await serverFill())) return;
    const ol = $("scenes");
    ol.textContent = "";
    filled.prompts.forEach((p, i) => {
      const li = document.createElement("li");
      const ta = document.createElement("textarea");
      ta.value = p;
      ta.id = "scene-" + i;
      ta.maxLength = 400;
      ta.setAttribute("aria-label", "Scene " + (i + 1));
      ta.addEventListener("input", () => { clearTimeout(checkTimer); checkTimer = setTimeout(checkScenes, 300); });
      li.append(ta);
      ol.append(li);
    });
    $("review-error").textContent = "";
    $("generate").disabled = false;
    show("step-review");
    checkScenes();
  }

  // Edited scenes are checked against the model's words while typing.
  let checkTimer = 0;
  async function checkScenes() {
    const prompts = [...$("scenes").querySelectorAll("textarea")].map((t) => t.value.trim());
    if (prompts.some((p) => !p)) {
      $("review-error").textContent = "Every scene needs a few words.";
      $("generate").disabled = true;
      return;
    }
    const r = await api("POST", "/api/check", { prompts });
    $("review-error").textContent = r.status === 200 ? "" : plainWords(r.data.error || "");
    $("generate").disabled = r.status !== 200;
  }

  // The engine names unknown words for developers; say it for the operator.
  function plainWords(msg) {
    if (!/^unknown words? in prompt/.test(msg)) return msg;
    const words = (msg.split("(")[0].match(/'[^']*'/g) || []).join(", ");
    return "The video model does not know these words: " + words + ". Please use other words.";
  }

  async function submit(body) {
    const r = await api("POST", "/api/jobs", body);
    if (r.status !== 201) {
      const msg = r.data.errors ? r.data.errors.map((e) => e.message).join(" ") : r.data.error;
      return { error: plainWords(msg || "The video could not be started.") };
    }
    return r.data;
  }

  async function generate() {
    const prompts = [...$("scenes").querySelectorAll("textarea")].map((t) => t.value.trim());
    if (prompts.some((p) => !p)) {
      $("review-error").textContent = "Every scene needs a few words.";
      return;
    }
    const body = { template: current.id, summary: filled.summary, prompts, seconds: filled.seconds };
    const seed = $("seed").value.trim();
    if (seed) body.seed = Number(seed);
    $("generate").disabled = true;
    const r = await submit(body);
    $("generate").disabled = false;
    if (r.error) { $("review-error").textContent = r.error; return; }
    watch(r.id, filled.summary);
  }

  // ------------------------------------------------------------ 4. progress
  function setBar(frac) {
    const pct = Math.max(0, Math.min(100, Math.round(frac * 100)));
    $("bar").style.width = pct + "%";
    document.querySelector(".progress").setAttribute("aria-valuenow", String(pct));
  }

  function secondsText(s) {
    if (s < 0 || !isFinite(s)) return "";
    if (s < 60) return " — about " + Math.max(1, Math.round(s)) + " s left";
    return " — about " + Math.round(s / 60) + " min left";
  }

  function watch(id, summary) {
    if (source) source.close();
    runningJob = id;
    $("run-title").textContent = "Making the video";
    $("run-summary").textContent = summary || "";
    $("run-status").textContent = "Waiting…";
    $("run-error").textContent = "";
    $("result").hidden = true;
    $("cancel").hidden = false;
    $("cancel").disabled = false;
    $("again").hidden = true;
    setBar(0);
    show("step-run");
    source = new EventSource(withToken("/api/jobs/" + id + "/events"));
    source.addEventListener("queued", (e) => {
      const d = JSON.parse(e.data);
      $("run-status").textContent = d.ahead > 0
        ? "Waiting: " + d.ahead + (d.ahead === 1 ? " video" : " videos") + " before this one."
        : "Starting…";
    });
    source.addEventListener("progress", (e) => {
      const d = JSON.parse(e.data);
      if (d.total > 0) {
        setBar(d.step / d.total);
        const stage = { text: "Reading the scenes", denoise: "Making the frames", decode: "Finishing the frames" }[d.stage];
        $("run-status").textContent = (stage ? stage + ": step " : "Step ") + d.step + " of " + d.total + secondsText(d.eta);
      } else {
        $("run-status").textContent = "Starting…";
      }
    });
    source.addEventListener("done", (e) => {
      const d = JSON.parse(e.data);
      finish();
      setBar(1);
      $("run-title").textContent = "Your video is ready";
      $("run-status").textContent = d.cache_hit ? "Made earlier — shown from the store." : "Done.";
      showResult(d.job);
    });
    const ended = (word) => (e) => {
      const d = JSON.parse(e.data);
      finish();
      $("run-title").textContent = word === "failed" ? "The video could not be made" : "Cancelled";
      $("run-status").textContent = "";
      $("run-error").textContent = word === "failed"
        ? "Reason: " + (d.error || "unknown") + "."
        : (d.error ? d.error.charAt(0).toUpperCase() + d.error.slice(1) + "." : "");
    };
    source.addEventListener("failed", ended("failed"));
    source.addEventListener("cancelled", ended("cancelled"));
    source.onerror = () => {
      if (source && source.readyState === EventSource.CLOSED) {
        $("run-error").textContent = "Lost contact with the kiosk service.";
      }
    };
  }

  function finish() {
    if (source) { source.close(); source = null; }
    $("cancel").hidden = true;
    $("again").hidden = false;
  }

  function showResult(id) {
    const v = $("video");
    v.src = withToken("/api/jobs/" + id + "/video");
    $("download").href = withToken("/api/jobs/" + id + "/video");
    $("download").setAttribute("download", "procedure-" + id + ".mp4");
    $("sheet").href = withToken("/api/jobs/" + id + "/sheet");
    $("result").hidden = false;
    v.play().catch(() => {});
  }

  async function cancel() {
    if (!runningJob) return;
    $("cancel").disabled = true;
    const r = await api("POST", "/api/jobs/" + runningJob + "/cancel");
    if (r.status >= 400) {
      $("run-error").textContent = r.data.error || "Could not cancel.";
      $("cancel").disabled = false;
    } else {
      $("run-status").textContent = "Cancelling…";
    }
  }

  // ------------------------------------------------------------ history
  let historyOffset = 0;
  const PAGE = 10;

  async function loadHistory() {
    const r = await api("GET", "/api/history?offset=" + historyOffset + "&limit=" + PAGE);
    const ul = $("history-list");
    ul.textContent = "";
    if (r.status !== 200) { ul.textContent = r.data.error || "History could not be loaded."; return; }
    const { total, jobs } = r.data;
    for (const j of jobs) {
      const li = document.createElement("li");
      li.dataset.job = j.id;
      let thumb;
      if (j.files) {
        thumb = document.createElement("img");
        thumb.src = withToken(j.files.thumb);
        thumb.alt = "";
      } else {
        thumb = document.createElement("div");
        thumb.className = "nothumb";
      }
      const info = document.createElement("div");
      info.className = "info";
      const t = document.createElement("strong");
      t.textContent = j.summary || ("Job " + j.id);
      const st = document.createElement("div");
      st.className = "state-" + j.state;
      const when = new Date(j.created * 1000).toLocaleString();
      st.textContent = j.state + (j.error ? ": " + j.error : "") + " · " + when +
        (j.params ? " · seed " + j.params.seed : "");
      info.append(t, st);
      const acts = document.createElement("div");
      acts.className = "actions";
      if (j.files) {
        const play = document.createElement("button");
        play.type = "button";
        play.className = "secondary";
        play.textContent = "Play";
        play.addEventListener("click", () => {
          runningJob = j.id;
          $("run-title").textContent = "Video";
          $("run-summary").textContent = j.summary;
          $("run-status").textContent = "";
          $("run-error").textContent = "";
          setBar(1);
          finish();
          show("step-run");
          showResult(j.id);
        });
        const dl = document.createElement("a");
        dl.className = "button secondary";
        dl.textContent = "Download";
        dl.href = withToken(j.files.video);
        dl.setAttribute("download", "procedure-" + j.id + ".mp4");
        acts.append(play, dl);
      }
      if (j.params) {
        const again = document.createElement("button");
        again.type = "button";
        again.className = "primary";
        again.textContent = "Run again (same seed)";
        again.addEventListener("click", async () => {
          const r2 = await submit(j.params);
          if (r2.error) { alert(r2.error); return; }
          watch(r2.id, j.summary);
        });
        acts.append(again);
      }
      li.append(thumb, info, acts);
      ul.append(li);
    }
    if (!jobs.length) ul.textContent = "No videos yet.";
    $("history-page").textContent = total ? (historyOffset + 1) + "–" + (historyOffset + jobs.length) + " of " + total : "";
    $("history-prev").disabled = historyOffset === 0;
    $("history-next").disabled = historyOffset + PAGE >= total;
  }

  // ------------------------------------------------------------ wiring
  $("nav-new").addEventListener("click", () => show("step-choose"));
  $("nav-history").addEventListener("click", () => { show("history"); loadHistory(); });
  $("back-choose").addEventListener("click", () => show("step-choose"));
  $("to-review").addEventListener("click", toReview);
  $("back-fill").addEventListener("click", () => show("step-fill"));
  $("generate").addEventListener("click", generate);
  $("cancel").addEventListener("click", cancel);
  $("again").addEventListener("click", () => show("step-choose"));
  $("history-prev").addEventListener("click", () => { historyOffset = Math.max(0, historyOffset - PAGE); loadHistory(); });
  $("history-next").addEventListener("click", () => { historyOffset += PAGE; loadHistory(); });

  loadStatus();
  loadTemplates();
})();
