// libFuzzer target: the server's request parser (JSON bodies of /v1/chat/completions and
// /v1/completions) and the response builders fed with what it accepted.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/openai_request.h"
#include "server/openai_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace flashstream;
  using namespace flashstream::server;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (Endpoint endpoint : {Endpoint::kChat, Endpoint::kCompletion}) {
    CompletionRequest request;
    std::string param;
    if (ParseCompletionRequest(body, endpoint, GenerateOptions{}, &request, &param).ok()) {
      RunStats stats;
      stats.stop_reason = "stop";
      const std::string text = endpoint == Endpoint::kChat ? request.messages.back().content : request.prompt;
      (void)CompletionObject(endpoint, ResponseId{"id", 0, request.model}, text, stats).dump();
      (void)ChunkEvent(endpoint, ResponseId{"id", 0, request.model}, text, true, "", nlohmann::json());
    } else {
      (void)ErrorBody(param, "invalid_request_error", param);
    }
  }
  return 0;
}
