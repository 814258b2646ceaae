// Is a local process gone? Shared by the shm barrier and the nccl watchdog.
#pragma once

#include <signal.h>

#include <cerrno>
#include <fstream>
#include <string>

namespace gp {

// kill(pid, 0) succeeds on zombies; a killed child whose parent has not
// reaped it yet must still count as dead.
inline bool processGone(int pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return false;
  size_t p = s.rfind(") ");
  return p != std::string::npos && p + 2 < s.size() && (s[p + 2] == 'Z' || s[p + 2] == 'X');
}

}  // namespace gp
