// socbot console: draws the bot's Block Kit the way Slack does and sends what you do back.
// Every string from the bot becomes DOM text (textContent), never HTML.
"use strict";

const state = { who: "oncall", view: "", version: -1, data: null, modalKey: "", seen: new Set(), abort: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

// --- mrkdwn: Slack's control characters are & < >; the bot sends them as entities ----------
function unescapeEntities(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

const people = {};

function token(inner) {
  // <@U123>, <#C123|name>, <!here>, <!subteam^S1|@group>, <url|label>: only where the bot
  // wrote a real "<" (escaped text arrives as &lt; and is never read as a token).
  const [target, label] = inner.split("|", 2);
  if (target.startsWith("@")) {
    const id = target.slice(1);
    return el("span", { class: "mention", "data-mention": id }, "@" + (people[id] || label || id));
  }
  if (target.startsWith("#")) {
    return el("span", { class: "mention" }, "#" + unescapeEntities(label || target.slice(1)));
  }
  if (target.startsWith("!")) {
    const name = target.slice(1).split("^")[0];
    return el("span", { class: "mention", "data-special": name }, "@" + unescapeEntities(label || name));
  }
  const url = unescapeEntities(target);
  if (/^(https?:|mailto:)/i.test(url)) {
    return el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, unescapeEntities(label || url));
  }
  return document.createTextNode(unescapeEntities(label || target));
}

// The shortcodes the bot uses, and a few more; any other stays as written.
const EMOJI = { large_orange_circle: "🟠", large_yellow_circle: "🟡", red_circle: "🔴",
  large_blue_circle: "🔵", white_circle: "⚪", rotating_light: "🚨", mag: "🔍",
  white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️", lock: "🔒",
  hourglass: "⌛", hourglass_flowing_sand: "⏳", bell: "🔔", no_bell: "🔕", eyes: "👀",
  wave: "👋", information_source: "ℹ️", arrows_counterclockwise: "🔄", shield: "🛡️" };

function emoji(text) {
  return text.replace(/:([a-z0-9_+-]+):/g, (all, name) => EMOJI[name] || all);
}

function styled(text, parent) {
  // *bold* _italic_ ~strike~ `code` on text whose entities are already decoded; as in Slack
  // a marker counts only at a word boundary (snake_case_names stay as they are).
  text = emoji(text);
  const pattern = /(`[^`\n]+`|(?<![\w*])\*[^*\n]+\*(?![\w*])|(?<![\w_])_[^_\n]+_(?![\w_])|(?<![\w~])~[^~\n]+~(?![\w~]))/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    parent.append(document.createTextNode(text.slice(last, match.index)));
    const inner = match[0].slice(1, -1);
    const tag = { "`": "code", "*": "b", "_": "i", "~": "s" }[match[0][0]];
    parent.append(el(tag, {}, inner));
    last = match.index + match[0].length;
  }
  parent.append(document.createTextNode(text.slice(last)));
}

function mrkdwn(text) {
  const out = el("span", { class: "mrkdwn" });
  const parts = String(text).split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) { out.append(el("pre", {}, unescapeEntities(part))); return; }
    let last = 0;
    for (const match of part.matchAll(/<([^<>]+)>/g)) {
      styled(unescapeEntities(part.slice(last, match.index)), out);
      out.append(token(match[1]));
      last = match.index + match[0].length;
    }
    styled(unescapeEntities(part.slice(last)), out);
  });
  out.style.whiteSpace = "pre-wrap";
  return out;
}

function textObject(obj) {
  if (!obj) return document.createTextNode("");
  if (obj.type === "mrkdwn") return mrkdwn(obj.text || "");
  // plain_text: as written, but for emoji shortcodes when the object asks for them
  return el("span", { class: "plain" }, obj.emoji === false ? String(obj.text || "") : emoji(String(obj.text || "")));
}

// --- Block Kit -----------------------------------------------------------------------------
function unsupported(what) {
  return el("div", { class: "unsupported", "data-unsupported": what }, `[unsupported by the console: ${what}]`);
}

function element(item, ctx) {
  if (item.type === "button") {
    const button = el("button", { class: "btn " + (item.style || ""), type: "button",
      "data-action-id": item.action_id || "" }, String((item.text || {}).text || ""));
    button.addEventListener("click", () => confirmThen(item.confirm, () =>
      act(ctx, { type: "button", action_id: item.action_id, block_id: ctx.block_id, value: item.value })));
    return button;
  }
  if (item.type === "overflow") {
    const wrap = el("span", { class: "overflow" });
    const toggle = el("button", { class: "btn", type: "button", "data-overflow": item.action_id || "",
      title: "more actions" }, "⋯");
    wrap.append(toggle);
    toggle.addEventListener("click", () => {
      const open = wrap.querySelector(".overflow-menu");
      if (open) { open.remove(); draw(); return; }
      const menu = el("div", { class: "overflow-menu" });
      for (const option of item.options || []) {
        const choice = el("button", { type: "button", "data-option": option.value || "" },
          String((option.text || {}).text || ""));
        choice.addEventListener("click", () => { menu.remove(); draw(); confirmThen(item.confirm, () =>
          act(ctx, { type: "overflow", action_id: item.action_id, block_id: ctx.block_id,
                     selected_option: option })); });
        menu.append(choice);
      }
      wrap.append(menu);
    });
    return wrap;
  }
  if (item.type === "static_select" && !ctx.input) {
    const select = el("select", { "data-action-id": item.action_id || "" },
      el("option", { value: "" }, String((item.placeholder || {}).text || "choose")));
    for (const option of item.options || []) {
      select.append(el("option", { value: option.value }, String((option.text || {}).text || "")));
    }
    select.addEventListener("change", () => {
      const option = (item.options || []).find(o => o.value === select.value);
      if (option) act(ctx, { type: "static_select", action_id: item.action_id, block_id: ctx.block_id,
                             selected_option: option });
    });
    return select;
  }
  if (item.type === "image") return el("span", { class: "meta" }, `[image: ${item.alt_text || ""}]`);
  if (item.type === "mrkdwn" || item.type === "plain_text") return textObject(item);
  return unsupported(`element ${item.type}`);
}

function inputElement(block, item, errors) {
  const id = `in-${block.block_id}-${item.action_id}`;
  let control;
  if (item.type === "plain_text_input") {
    control = item.multiline ? el("textarea", { rows: 3 }) : el("input", { type: "text" });
    control.value = item.initial_value || "";
    if (item.placeholder) control.placeholder = item.placeholder.text || "";
  } else if (item.type === "number_input") {
    control = el("input", { type: "number", step: item.is_decimal_allowed ? "any" : "1" });
    if (item.min_value !== undefined) control.min = item.min_value;
    if (item.max_value !== undefined) control.max = item.max_value;
    control.value = item.initial_value || "";
  } else if (item.type === "static_select") {
    control = el("select", {}, el("option", { value: "" }, "choose"));
    for (const option of item.options || []) {
      const node = el("option", { value: option.value }, String((option.text || {}).text || ""));
      if (item.initial_option && item.initial_option.value === option.value) node.selected = true;
      control.append(node);
    }
  } else {
    return unsupported(`input ${item.type}`);
  }
  control.id = id;
  control.dataset.block = block.block_id;
  control.dataset.actionId = item.action_id;
  control.dataset.kind = item.type;
  const wrap = el("div", { class: "block input", "data-block-id": block.block_id || "" },
    el("label", { htmlFor: id }, String((block.label || {}).text || "")), control);
  if (block.hint) wrap.append(el("div", { class: "hint" }, String(block.hint.text || "")));
  if (errors && errors[block.block_id]) {
    wrap.append(el("div", { class: "error", "data-error-for": block.block_id }, String(errors[block.block_id])));
  }
  return wrap;
}

function renderBlocks(blocks, ctx, errors) {
  const out = el("div", { class: "blocks" });
  for (const block of blocks || []) {
    const bctx = { ...ctx, block_id: block.block_id || "" };
    let node;
    if (block.type === "section") {
      node = el("div", { class: "block section" });
      const body = el("div", { class: "section-body" });
      if (block.text) body.append(el("div", {}, textObject(block.text)));
      if (block.fields) body.append(el("div", { class: "fields" }, ...block.fields.map(textObject)));
      node.append(body);
      if (block.accessory) node.append(el("div", { class: "accessory" }, element(block.accessory, bctx)));
    } else if (block.type === "context") {
      node = el("div", { class: "block context" }, ...(block.elements || []).map(e => element(e, bctx)));
    } else if (block.type === "actions") {
      node = el("div", { class: "block actions" }, ...(block.elements || []).map(e => element(e, bctx)));
    } else if (block.type === "header") {
      node = el("div", { class: "block header" }, textObject(block.text));
    } else if (block.type === "divider") {
      node = el("hr", { class: "block divider" });
    } else if (block.type === "input" && ctx.input) {
      node = inputElement(block, block.element || {}, errors);
    } else {
      node = unsupported(`block ${block.type}`);
    }
    out.append(node);
  }
  return out;
}

// --- what the person does --------------------------------------------------------------------
async function call(what, body) {
  const response = await fetch(`/console/${what}`, { method: "POST",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: state.who, ...body }) });
  const answer = await response.json();
  if (answer.status && answer.status !== 200) {
    notify(`the bot answered ${answer.status}: ${answer.body}`);
  }
  return answer;
}

function act(ctx, action) {
  if (ctx.modal) action.in_modal = true, action.state = modalValues();
  return call("click", { action, channel: ctx.channel || "", ts: ctx.ts || "", home: !!ctx.home });
}

function confirmThen(confirm, go) {
  if (!confirm) { go(); return; }
  const overlay = document.getElementById("overlay");
  const yes = el("button", { class: "btn " + (confirm.style || "primary"), type: "button",
    "data-confirm": "yes" }, String((confirm.confirm || {}).text || "Confirm"));
  const no = el("button", { class: "btn", type: "button", "data-confirm": "no" },
    String((confirm.deny || {}).text || "Cancel"));
  const dialog = el("div", { class: "dialog confirm", role: "dialog" },
    el("h3", {}, String((confirm.title || {}).text || "Are you sure?")),
    el("div", {}, textObject(confirm.text)), el("div", { class: "buttons" }, no, yes));
  const close = () => { overlay.hidden = true; overlay.replaceChildren(); state.modalKey = ""; draw(); };
  no.addEventListener("click", close);
  yes.addEventListener("click", () => { close(); go(); });
  overlay.replaceChildren(dialog);
  overlay.hidden = false;
}

function modalValues() {
  const values = {};
  for (const control of document.querySelectorAll("#overlay [data-kind]")) {
    const block = (values[control.dataset.block] ||= {});
    if (control.dataset.kind === "static_select") {
      const option = control.selectedOptions[0];
      block[control.dataset.actionId] = { type: "static_select", selected_option: control.value ?
        { text: { type: "plain_text", text: option.textContent }, value: control.value } : null };
    } else {
      block[control.dataset.actionId] = { type: control.dataset.kind, value: control.value || null };
    }
  }
  return values;
}

function notify(text, formatted) {
  // A notification shows the fallback text as Slack does: plain text, entities decoded,
  // mentions and links by their names.
  const list = document.getElementById("notifications");
  list.prepend(el("li", {}, formatted ? mrkdwn(text).textContent : String(text)));
}

// --- drawing ------------------------------------------------------------------------------
function message(m, ephemeral) {
  const ctx = { channel: m.channel, ts: m.ts };
  const node = el("article", { class: "msg" + (ephemeral ? " ephemeral" : ""), "data-ts": m.ts },
    el("span", { class: "who" }, "socbot"),
    el("span", { class: "meta" }, new Date(parseFloat(m.ts) * 1000).toLocaleTimeString() +
      (m.edited ? " (edited)" : "") + (ephemeral ? " · Only visible to you" : "")));
  if (m.blocks && m.blocks.length) node.append(renderBlocks(m.blocks, ctx));
  else node.append(el("div", {}, mrkdwn(m.text || "")));
  return node;
}

function drawChannel(data) {
  const box = document.getElementById("messages");
  const top = data.messages.filter(m => m.channel === state.view && !m.thread_ts);
  const replies = data.messages.filter(m => m.channel === state.view && m.thread_ts);
  const nodes = [];
  for (const m of top) {
    const node = message(m, false);
    const thread = replies.filter(r => r.thread_ts === m.ts);
    if (thread.length) {
      node.append(el("div", { class: "thread", "data-thread": m.ts },
        el("div", { class: "meta" }, `${thread.length} ${thread.length === 1 ? "reply" : "replies"}`),
        ...thread.map(r => message(r, false))));
    }
    nodes.push(node);
  }
  for (const e of data.ephemerals.filter(e => e.channel === state.view)) nodes.push(message(e, true));
  box.replaceChildren(...nodes);
}

function drawHome(data) {
  const box = document.getElementById("messages");
  if (!data.home) { box.replaceChildren(el("p", { class: "meta" }, "Opening App Home…")); return; }
  box.replaceChildren(el("div", { class: "home" }, renderBlocks(data.home.blocks, { home: true })));
}

function drawModal(data) {
  const overlay = document.getElementById("overlay");
  if (overlay.querySelector(".confirm")) return;
  const key = JSON.stringify(data.modal);
  if (key === state.modalKey) return;
  state.modalKey = key;
  if (!data.modal) { overlay.hidden = true; overlay.replaceChildren(); return; }
  const view = data.modal;
  // The same modal drawn again (field errors): what the person typed stays, as in Slack.
  const typed = overlay.querySelector(`.modal[data-view-id="${CSS.escape(view.id || "")}"]`) ? modalValues() : {};
  const submit = view.submit ? el("button", { class: "btn primary", type: "button", "data-modal": "submit" },
    String(view.submit.text || "Submit")) : null;
  const close = el("button", { class: "btn", type: "button", "data-modal": "close" },
    String((view.close || {}).text || "Cancel"));
  const dialog = el("div", { class: "dialog modal", role: "dialog", "data-callback-id": view.callback_id || "",
    "data-view-id": view.id || "" },
    el("h3", {}, String((view.title || {}).text || "")),
    renderBlocks(view.blocks, { modal: true, input: true }, view.errors || {}),
    el("div", { class: "buttons" }, close, submit));
  close.addEventListener("click", () => call("close", {}));
  if (submit) submit.addEventListener("click", () => call("submit", { values: modalValues() }));
  overlay.replaceChildren(dialog);
  overlay.hidden = false;
  for (const control of overlay.querySelectorAll("[data-kind]")) {
    const kept = (typed[control.dataset.block] || {})[control.dataset.actionId];
    if (!kept) continue;
    if (kept.selected_option !== undefined) control.value = kept.selected_option ? kept.selected_option.value : "";
    else control.value = kept.value || "";
  }
}

function draw() {
  const data = state.data;
  if (!data) return;
  const list = document.getElementById("channels");
  const channels = Object.entries(data.channels);
  if (!state.view && channels.length) state.view = channels[0][1] ? channels[0][0] : "";
  list.replaceChildren(...channels.map(([id, name]) => {
    const link = el("a", { href: "#" + id, "data-channel": id, class: id === state.view ? "active" : "" }, name);
    link.addEventListener("click", (event) => { event.preventDefault(); state.view = id; draw(); });
    return el("li", {}, link);
  }));
  document.getElementById("home-link").className = state.view === "home" ? "active" : "";
  document.getElementById("title").textContent = state.view === "home" ? "socbot · Home" :
    (data.channels[state.view] || "no channel yet: waiting for the first alert");
  // An open overflow menu would vanish under a redraw: the messages wait until it closes.
  if (!document.querySelector("#messages .overflow-menu")) {
    if (state.view === "home") drawHome(data); else drawChannel(data);
  }
  drawModal(data);
  for (const m of data.messages) {  // where Slack would notify: the fallback text of new posts
    if (state.seen.has(m.ts)) continue;
    state.seen.add(m.ts);
    if (!m.thread_ts && state.version >= 0) notify(m.text || "", true);
  }
}

async function poll() {
  for (;;) {
    try {
      state.abort = new AbortController();
      const response = await fetch(`/console/state?user=${encodeURIComponent(state.who)}&since=${state.version}`,
        { signal: state.abort.signal });
      state.data = await response.json();
      draw();
      state.version = state.data.version;
    } catch (error) {
      if (error.name === "AbortError") continue;  // the person changed: ask again at once
      await new Promise(resolve => setTimeout(resolve, 1000));
    }
  }
}

async function start() {
  const answer = await (await fetch("/console/people")).json();
  const select = document.getElementById("who");
  for (const p of answer.people) {
    people[p.user_id] = p.name;
    select.append(el("option", { value: p.key }, p.name));
  }
  select.addEventListener("change", () => {
    state.who = select.value; state.version = -1; state.modalKey = "";
    if (state.abort) state.abort.abort();
    if (state.view === "home") call("home", {});
  });
  document.getElementById("home-link").addEventListener("click", (event) => {
    event.preventDefault(); state.view = "home"; draw(); call("home", {});
  });
  document.getElementById("command-box").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("command");
    const text = input.value.replace(/^\s*\/soc\b\s*/, "");
    input.value = "";
    call("command", { text, channel: state.view === "home" ? "" : state.view });
  });
  poll();
}

start();
