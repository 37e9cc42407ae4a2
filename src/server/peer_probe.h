// PeerProbe: tells whether the client of an HTTP request has closed its connection, so that a
// request waiting for the engine (or a non-streamed generation) is cancelled when nobody is left
// to read the answer. cpp-httplib 0.11 (Debian 12) hands handlers no socket and no
// "connection closed" query, so the probe finds the connection's socket among the process's
// descriptors by its two endpoints (a live TCP connection is unique by them, and its socket
// stays open while the handler runs on the connection's thread) and peeks at it without
// blocking: end-of-stream or a reset means the client is gone. A client that half-closes
// (shutdown(SHUT_WR)) after its request reads as gone too; HTTP clients do not do that.
// Not thread-safe; one per request.
#pragma once

#include <string>

namespace flashstream::server {

class PeerProbe {
 public:
  // The connection local_addr:local_port <-> remote_addr:remote_port (as httplib::Request has
  // them). When no socket matches, PeerClosed() always says false.
  PeerProbe(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port);
  bool found() const { return fd_ >= 0; }
  // True once the client closed or reset the connection. Never blocks.
  bool PeerClosed() const;

 private:
  int fd_ = -1;
};

}  // namespace flashstream::server
