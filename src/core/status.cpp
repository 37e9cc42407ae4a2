#include "core/status.h"

#include <algorithm>

namespace flashstream {

namespace {

bool IsControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

}  // namespace

std::string OneLineMessage(std::string message) {
  if (std::none_of(message.begin(), message.end(), IsControl)) return message;
  std::string out;
  out.reserve(message.size() + 8);
  for (const char c : message) {
    if (!IsControl(c)) {
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

}  // namespace flashstream
