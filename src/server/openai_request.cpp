#include "server/openai_request.h"

#include <climits>
#include <nlohmann/json.hpp>  // request bodies

#include "engine/option_table.h"  // the same range checks as the CLI's Modelfile and Python

namespace flashstream::server {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 32;     // JSON nesting; request bodies need 4
constexpr size_t kMaxStops = 16;  // stop strings per request
constexpr size_t kMaxMessages = 4096;

// Nesting depth of the JSON text (brackets outside strings); stops counting past the limit.
int NestingDepth(std::string_view s) {
  int depth = 0, max_depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size() && max_depth <= kMaxDepth; ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

const char* TypeName(const json& v) {
  if (v.is_number_integer()) return "integer";
  return v.type_name();
}

// Field access with type checks; every error names the field.
class Fields {
 public:
  Fields(const json& body, std::string* param) : body_(body), param_(param) {}

  // The field's value, or nullptr when absent or null.
  const json* Get(const char* name) const {
    auto it = body_.find(name);
    return it == body_.end() || it->is_null() ? nullptr : &*it;
  }
  Status Fail(const char* name, const std::string& message) const {
    *param_ = name;
    return Errorf("'{}': {}", name, message);
  }
  Status WrongType(const char* name, const char* expected, const json& v) const {
    return Fail(name, fmt::format("expected {}, got {}", expected, TypeName(v)));
  }
  Status String(const char* name, std::string* out) const {
    const json* v = Get(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_string()) return WrongType(name, "a string", *v);
    *out = v->get<std::string>();
    return Status::Ok();
  }
  Status Bool(const char* name, bool* out) const {
    const json* v = Get(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_boolean()) return WrongType(name, "a boolean", *v);
    *out = v->get<bool>();
    return Status::Ok();
  }
  // A number passed to the named option `option` (engine/option_table.h) for its range check.
  Status Number(const char* name, const char* option, bool integer, GenerateOptions* options,
                bool* seed_given = nullptr) const {
    const json* v = Get(name);
    if (v == nullptr) return Status::Ok();
    if (integer ? !v->is_number_integer() : !v->is_number()) {
      return WrongType(name, integer ? "an integer" : "a number", *v);
    }
    const std::string text = v->is_number_unsigned()  ? fmt::format("{}", v->get<uint64_t>())
                             : v->is_number_integer() ? fmt::format("{}", v->get<int64_t>())
                                                      : fmt::format("{}", v->get<double>());
    Status s = SetOption(option, text, OptionTarget{nullptr, options, seed_given});
    if (!s.ok()) return Fail(name, s.message().substr(s.message().find(':') + 2));
    return Status::Ok();
  }
  // max_tokens / max_completion_tokens: an integer >= 1.
  Status MaxTokens(const char* name, CompletionRequest* out) const {
    const json* v = Get(name);
    if (v == nullptr) return Status::Ok();
    if (!v->is_number_integer()) return WrongType(name, "an integer", *v);
    const bool fits = v->is_number_unsigned() ? v->get<uint64_t>() <= INT_MAX : v->get<int64_t>() >= 1;
    if (!fits || v->get<int64_t>() < 1)
      return Fail(name, fmt::format("expected an integer in [1, {}], got {}", INT_MAX, v->dump()));
    out->options.max_tokens = static_cast<int>(v->get<int64_t>());
    out->max_tokens_given = true;
    return Status::Ok();
  }
  // A field that must keep its neutral value because the feature is not implemented.
  Status Unsupported(const char* name, const json& neutral, const char* what) const {
    const json* v = Get(name);
    if (v == nullptr || *v == neutral) return Status::Ok();
    return Fail(name, fmt::format("{} is not supported", what));
  }

 private:
  const json& body_;
  std::string* param_;
};

Status ParseMessages(const Fields& f, CompletionRequest* out) {
  const json* v = f.Get("messages");
  if (v == nullptr) return f.Fail("messages", "is required");
  if (!v->is_array()) return f.WrongType("messages", "an array", *v);
  if (v->empty()) return f.Fail("messages", "expected at least one message");
  if (v->size() > kMaxMessages) return f.Fail("messages", fmt::format("more than {} messages", kMaxMessages));
  for (size_t i = 0; i < v->size(); ++i) {
    const json& m = (*v)[i];
    const std::string at = fmt::format("messages[{}]", i);
    if (!m.is_object()) return f.Fail("messages", fmt::format("{}: expected an object, got {}", at, TypeName(m)));
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return f.Fail("messages", at + ".role: expected a string");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "developer") {
      return f.Fail("messages", fmt::format("{}.role: expected system, developer, user or assistant, got '{}'", at, r));
    }
    ChatMessage msg{r == "developer" ? "system" : r, ""};
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      return f.Fail("messages", at + ".content: is required");
    } else if (content->is_string()) {
      msg.content = content->get<std::string>();
    } else if (content->is_array()) {  // [{"type": "text", "text": "..."}]
      for (const json& part : *content) {
        auto type = part.is_object() ? part.find("type") : part.end();
        auto text = part.is_object() ? part.find("text") : part.end();
        if (type == part.end() || *type != "text" || text == part.end() || !text->is_string()) {
          return f.Fail("messages", at + ".content: only parts of type \"text\" with a string \"text\" are supported");
        }
        msg.content += text->get<std::string>();
      }
    } else {
      return f.Fail("messages", fmt::format("{}.content: expected a string or an array of text parts, got {}", at,
                                            TypeName(*content)));
    }
    out->messages.push_back(std::move(msg));
  }
  return Status::Ok();
}

Status ParsePrompt(const Fields& f, CompletionRequest* out) {
  const json* v = f.Get("prompt");
  if (v == nullptr) return f.Fail("prompt", "is required");
  if (v->is_array() && v->size() == 1 && (*v)[0].is_string()) v = &(*v)[0];
  if (!v->is_string()) return f.WrongType("prompt", "a string (or an array of one string)", *v);
  out->prompt = v->get<std::string>();
  if (out->prompt.empty()) return f.Fail("prompt", "is empty");
  return Status::Ok();
}

Status ParseStop(const Fields& f, GenerateOptions* options) {
  const json* v = f.Get("stop");
  if (v == nullptr) return Status::Ok();
  std::vector<std::string> stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array()) {
    if (v->size() > kMaxStops)
      return f.Fail("stop", fmt::format("at most {} stop strings, got {}", kMaxStops, v->size()));
    for (const json& s : *v) {
      if (!s.is_string()) return f.Fail("stop", fmt::format("expected strings, got {}", TypeName(s)));
      stops.push_back(s.get<std::string>());
    }
  } else {
    return f.WrongType("stop", "a string or an array of strings", *v);
  }
  for (const std::string& s : stops) {
    if (s.empty()) return f.Fail("stop", "stop strings must not be empty");
  }
  options->stop = std::move(stops);
  return Status::Ok();
}

}  // namespace

Status ParseCompletionRequest(std::string_view body, Endpoint endpoint, const GenerateOptions& defaults,
                              CompletionRequest* out, std::string* error_param) {
  error_param->clear();
  *out = CompletionRequest();
  out->endpoint = endpoint;
  out->options = defaults;
  if (NestingDepth(body) > kMaxDepth) return Errorf("invalid JSON: nested deeper than {} levels", kMaxDepth);
  json parsed;
  try {
    parsed = json::parse(body);
  } catch (const json::exception& e) {
    return Errorf("invalid JSON: {}", e.what());
  }
  if (!parsed.is_object()) return Errorf("the body must be a JSON object, got {}", TypeName(parsed));
  const Fields f(parsed, error_param);
  FS_RETURN_IF_ERROR(f.String("model", &out->model));
  FS_RETURN_IF_ERROR(endpoint == Endpoint::kChat ? ParseMessages(f, out) : ParsePrompt(f, out));
  FS_RETURN_IF_ERROR(f.Bool("stream", &out->stream));
  if (const json* so = f.Get("stream_options")) {
    if (!so->is_object()) return f.WrongType("stream_options", "an object", *so);
    auto usage = so->find("include_usage");
    if (usage != so->end() && !usage->is_null()) {
      if (!usage->is_boolean()) return f.Fail("stream_options", "include_usage: expected a boolean");
      out->include_usage = usage->get<bool>();
    }
  }
  FS_RETURN_IF_ERROR(f.Bool("flashstream_stats", &out->live_stats));
  FS_RETURN_IF_ERROR(f.Bool("ignore_eos", &out->options.ignore_eos));
  GenerateOptions* o = &out->options;
  FS_RETURN_IF_ERROR(f.MaxTokens("max_tokens", out));
  if (endpoint == Endpoint::kChat) FS_RETURN_IF_ERROR(f.MaxTokens("max_completion_tokens", out));
  FS_RETURN_IF_ERROR(f.Number("temperature", "temperature", false, o));
  FS_RETURN_IF_ERROR(f.Number("top_p", "top_p", false, o));
  FS_RETURN_IF_ERROR(f.Number("top_k", "top_k", true, o));
  FS_RETURN_IF_ERROR(f.Number("min_p", "min_p", false, o));
  FS_RETURN_IF_ERROR(f.Number("repeat_penalty", "repeat_penalty", false, o));
  FS_RETURN_IF_ERROR(f.Number("seed", "seed", true, o, &out->seed_given));
  FS_RETURN_IF_ERROR(ParseStop(f, o));
  FS_RETURN_IF_ERROR(f.Unsupported("n", 1, "n other than 1"));
  FS_RETURN_IF_ERROR(f.Unsupported("best_of", 1, "best_of other than 1"));
  FS_RETURN_IF_ERROR(f.Unsupported("presence_penalty", 0, "presence_penalty other than 0 (use repeat_penalty)"));
  FS_RETURN_IF_ERROR(f.Unsupported("frequency_penalty", 0, "frequency_penalty other than 0 (use repeat_penalty)"));
  FS_RETURN_IF_ERROR(f.Unsupported("logprobs", endpoint == Endpoint::kChat ? json(false) : json(0), "logprobs"));
  FS_RETURN_IF_ERROR(f.Unsupported("echo", false, "echo"));
  FS_RETURN_IF_ERROR(f.Unsupported("suffix", "", "suffix"));
  if (const json* tools = f.Get("tools"); tools != nullptr && !(tools->is_array() && tools->empty())) {
    return f.Fail("tools", "tool calls are not supported");
  }
  return Status::Ok();
}

}  // namespace flashstream::server
