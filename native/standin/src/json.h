// JSON string escaping for the stand-ins' event log.
#pragma once

#include <string>

namespace gpsi {

inline std::string jsonEscape(const std::string& in) {
  std::string out;
  for (char c : in) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

}  // namespace gpsi
