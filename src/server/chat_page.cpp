#include "server/chat_page.h"

namespace flashstream::server {
namespace {

constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>flashstream</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; display: flex; height: 100vh; color: #222; }
  main { flex: 1; display: flex; flex-direction: column; min-width: 0; }
  #log { flex: 1; overflow-y: auto; padding: 12px 16px; }
  .msg { margin: 8px 0; padding: 8px 12px; border-radius: 8px; white-space: pre-wrap; max-width: 80ch; }
  .user { background: #e6f0ff; margin-left: auto; }
  .assistant { background: #f3f3f3; }
  .assistant[data-state="error"] { background: #fde8e8; }
  form { display: flex; gap: 8px; padding: 10px 16px; border-top: 1px solid #ddd; }
  textarea { flex: 1; font: inherit; resize: vertical; min-height: 2.5em; }
  aside { width: 270px; border-left: 1px solid #ddd; padding: 12px; background: #fafafa; font-size: 13px; }
  aside h2 { font-size: 14px; margin: 4px 0 8px; }
  dl { display: grid; grid-template-columns: auto auto; gap: 3px 10px; margin: 0 0 12px; }
  dt { color: #666; } dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
  label { display: block; margin: 6px 0 2px; color: #666; }
  input { width: 100%; box-sizing: border-box; }
</style>
</head>
<body>
<main>
  <div id="log"></div>
  <form id="form">
    <textarea id="prompt" placeholder="Message (Enter sends, Shift+Enter for a new line)"></textarea>
    <button id="send" type="submit">Send</button>
    <button id="stop" type="button" disabled>Stop</button>
  </form>
</main>
<aside>
  <h2>This reply</h2>
  <dl id="figures">
    <dt>tokens</dt><dd id="f-tokens">–</dd>
    <dt>decode tok/s</dt><dd id="f-tps">–</dd>
    <dt>first token</dt><dd id="f-first">–</dd>
    <dt>streamed / token</dt><dd id="f-bpt">–</dd>
    <dt>I/O wait</dt><dd id="f-wait">–</dd>
    <dt>prompt tokens</dt><dd id="f-prompt">–</dd>
    <dt>prompt cache hit</dt><dd id="f-reuse">–</dd>
    <dt>KV cache</dt><dd id="f-kv">–</dd>
  </dl>
  <h2>Server</h2>
  <dl id="server">
    <dt>model</dt><dd id="s-model">–</dd>
    <dt>queue depth</dt><dd id="s-queue">–</dd>
    <dt>weights resident</dt><dd id="s-resident">–</dd>
    <dt>weight cache hit</dt><dd id="s-whit">–</dd>
    <dt>prompt cache hit</dt><dd id="s-phit">–</dd>
    <dt>streamed total</dt><dd id="s-streamed">–</dd>
  </dl>
  <label for="temp">temperature</label><input id="temp" type="number" step="0.1" min="0" value="0.7">
  <label for="maxtok">max tokens</label><input id="maxtok" type="number" min="1" value="256">
  <label for="key">API key (if the server has one)</label><input id="key" type="password">
  <p><button id="reset" type="button">New conversation</button></p>
</aside>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let history = [];
let controller = null;

function mib(b) { return (b / 1048576).toFixed(1) + " MiB"; }
function headers() {
  const h = { "Content-Type": "application/json" };
  if ($("key").value) h["Authorization"] = "Bearer " + $("key").value;
  return h;
}
function bubble(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  $("log").appendChild(div);
  $("log").scrollTop = $("log").scrollHeight;
  return div;
}
function showLive(f) {
  $("f-tokens").textContent = f.tokens;
  $("f-tps").textContent = f.tokens_per_second.toFixed(1);
  $("f-bpt").textContent = mib(f.bytes_read_per_token);
  $("f-wait").textContent = f.seconds > 0 ? (100 * f.io_wait_seconds / f.seconds).toFixed(0) + " %" : "–";
}
function showFinal(f) {
  $("f-tokens").textContent = f.generated_tokens;
  $("f-tps").textContent = f.decode_tps.toFixed(1);
  $("f-first").textContent = (1000 * f.prefill_seconds).toFixed(0) + " ms";
  $("f-bpt").textContent = mib(f.bytes_read_per_pass);
  $("f-wait").textContent = (100 * f.io_wait_fraction).toFixed(0) + " %";
  $("f-prompt").textContent = f.prompt_tokens;
  $("f-reuse").textContent = f.prompt_tokens ? (100 * f.reused_tokens / f.prompt_tokens).toFixed(0) + " %" : "–";
  $("f-kv").textContent = mib(f.kv_bytes);
}
function metric(text, name) {
  const m = text.match(new RegExp("^" + name + "(?:\\{[^}]*\\})? ([0-9.e+-]+)$", "m"));
  return m ? parseFloat(m[1]) : NaN;
}
async function pollServer() {
  try {
    const models = await fetch("/v1/models", { headers: headers() });
    if (models.ok) $("s-model").textContent = (await models.json()).data[0].id;
    const r = await fetch("/metrics", { headers: headers() });
    if (!r.ok) return;
    const t = await r.text();
    $("s-queue").textContent = metric(t, "flashstream_queue_depth");
    $("s-resident").textContent = mib(metric(t, "flashstream_weight_resident_bytes"));
    $("s-whit").textContent = (100 * metric(t, "flashstream_weight_cache_hit_ratio")).toFixed(1) + " %";
    $("s-phit").textContent = (100 * metric(t, "flashstream_prompt_cache_hit_ratio")).toFixed(1) + " %";
    $("s-streamed").textContent = mib(metric(t, "flashstream_streamed_bytes_total"));
  } catch (e) { /* the server may be restarting */ }
}
async function send(text) {
  history.push({ role: "user", content: text });
  bubble("user", text);
  const out = bubble("assistant", "");
  out.dataset.state = "streaming";
  controller = new AbortController();
  $("send").disabled = true; $("stop").disabled = false;
  let reply = "";
  try {
    const body = { messages: history, stream: true, flashstream_stats: true,
                   stream_options: { include_usage: true },
                   temperature: parseFloat($("temp").value), max_tokens: parseInt($("maxtok").value, 10) };
    const r = await fetch("/v1/chat/completions", { method: "POST", headers: headers(),
                                                    body: JSON.stringify(body), signal: controller.signal });
    if (!r.ok) throw new Error((await r.json()).error.message);
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const choice = chunk.choices && chunk.choices[0];
        if (choice && choice.delta && choice.delta.content) {
          reply += choice.delta.content;
          out.textContent = reply;
          $("log").scrollTop = $("log").scrollHeight;
        }
        if (chunk.flashstream) {
          if (choice && choice.finish_reason) showFinal(chunk.flashstream); else showLive(chunk.flashstream);
        }
      }
    }
    history.push({ role: "assistant", content: reply });
    out.dataset.state = "done";
  } catch (e) {
    if (reply) history.push({ role: "assistant", content: reply });
    else history.pop();
    out.textContent = reply + (reply ? "\n" : "") + "[" + (e.name === "AbortError" ? "stopped" : e.message) + "]";
    out.dataset.state = e.name === "AbortError" ? "done" : "error";
  }
  controller = null;
  $("send").disabled = false; $("stop").disabled = true;
  pollServer();
}
$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("prompt").value.trim();
  if (!text || controller) return;
  $("prompt").value = "";
  send(text);
});
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("form").requestSubmit(); }
});
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("reset").addEventListener("click", () => { history = []; $("log").textContent = ""; });
pollServer();
setInterval(pollServer, 3000);
</script>
</body>
</html>
)HTML";

}  // namespace

std::string_view ChatPageHtml() { return kPage; }

}  // namespace flashstream::server
