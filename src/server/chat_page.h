// The chat page served at GET /: one self-contained HTML document (inline CSS and JavaScript,
// no external resources, no front-end build) that streams replies from /v1/chat/completions and
// shows the run figures beside them (tok/s, bytes streamed per token, I/O wait, prompt cache,
// KV cache, weights resident) from the stream's "flashstream" extension and from /metrics.
// Element ids the browser test relies on: #prompt, #send, #log, #figures; a finished reply is
// a .msg.assistant element with data-state="done" (or "error").
#pragma once

#include <string_view>

namespace flashstream::server {

std::string_view ChatPageHtml();

}  // namespace flashstream::server
