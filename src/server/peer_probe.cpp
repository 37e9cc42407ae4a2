#include "server/peer_probe.h"

#include <arpa/inet.h>   // inet_ntop
#include <dirent.h>      // the descriptors in /proc/self/fd
#include <netinet/in.h>  // sockaddr_in, sockaddr_in6
#include <sys/socket.h>  // getsockname, getpeername, recv
#include <sys/stat.h>    // fstat: is it a socket

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace flashstream::server {
namespace {

// "addr:port" of a socket address; "" for families other than IPv4/IPv6.
std::string Endpoint(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
    return std::string(buf) + ":" + std::to_string(ntohs(a->sin6_port));
  }
  return "";
}

bool Matches(int fd, const std::string& local, const std::string& remote) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || Endpoint(ss) != remote) return false;
  len = sizeof(ss);
  return getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && Endpoint(ss) == local;
}

}  // namespace

PeerProbe::PeerProbe(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port) {
  const std::string local = local_addr + ":" + std::to_string(local_port);
  const std::string remote = remote_addr + ":" + std::to_string(remote_port);
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    if (Matches(static_cast<int>(fd), local, remote)) {
      fd_ = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
}

bool PeerProbe::PeerClosed() const {
  if (fd_ < 0) return false;
  char byte;
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;  // orderly shutdown by the client
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace flashstream::server
