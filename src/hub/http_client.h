// HttpClient: the few HTTP operations the model hub needs, over libcurl with TLS verification
// on. Redirects are followed only where asked (the hub's metadata lives in a redirect's own
// headers). Owns one curl handle; not thread-safe: one request at a time per client.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/status.h"

namespace flashstream::hub {

struct HttpResponse {
  long status = 0;                             // HTTP status code of the last response
  std::map<std::string, std::string> headers;  // of the last response; names lower-cased
  std::string body;                            // collected only when no sink was given
  // A range was asked for but the server sent the whole file (200): the transfer was stopped
  // before any byte reached the sink; ask again from the start.
  bool range_ignored = false;
  std::string Header(const std::string& name) const;  // "" when absent; name lower-case
};

struct HttpRequest {
  std::string url;
  bool head = false;             // HEAD instead of GET
  bool follow_redirects = true;  // else a 3xx is returned as the response
  uint64_t range_begin = 0;      // > 0: ask for bytes [range_begin, end) (Range header)
  std::string bearer_token;      // Authorization: Bearer ...; "" = none
  // Receives the body as it arrives (GET with a 2xx status only); returning false aborts.
  std::function<bool(const char* data, size_t n)> sink;
  long connect_timeout_s = 20;
  long low_speed_timeout_s = 60;  // abort when under 1 KiB/s for this long
};

class HttpClient {
 public:
  HttpClient();
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Transport failures (DNS, connect, TLS, a dropped connection, an aborted sink) are errors
  // naming the URL; any HTTP status, 4xx/5xx included, is a response.
  Result<HttpResponse> Send(const HttpRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace flashstream::hub
