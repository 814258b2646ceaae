// Structured errors shared by every backend.
//
// Each error carries a machine-readable code and, when known, the rank at
// fault, so the TypeScript layer can report "rank 2 died" without parsing
// message text.
#pragma once

#include <stdexcept>
#include <string>

namespace gp {

enum class ErrCode {
  Timeout,      // a peer did not arrive within the timeout
  PeerDied,     // a peer process is gone (or stopped heartbeating)
  Aborted,      // abort() was called here or on a peer
  Mismatch,     // ranks disagree on op, length, root or world size
  Resource,     // out of shared memory, device memory, ...
  Unavailable,  // a library or device is missing
  Broken,       // the communicator failed earlier and must be rebuilt
  Backend,      // anything else reported by the underlying library
};

inline const char* errCodeName(ErrCode c) {
  switch (c) {
    case ErrCode::Timeout: return "TIMEOUT";
    case ErrCode::PeerDied: return "PEER_DIED";
    case ErrCode::Aborted: return "ABORTED";
    case ErrCode::Mismatch: return "MISMATCH";
    case ErrCode::Resource: return "RESOURCE";
    case ErrCode::Unavailable: return "UNAVAILABLE";
    case ErrCode::Broken: return "BROKEN";
    case ErrCode::Backend: return "BACKEND";
  }
  return "BACKEND";
}

struct CollectiveError : std::runtime_error {
  CollectiveError(ErrCode c, const std::string& msg, int rankAtFault = -1)
      : std::runtime_error(msg), code(c), rank(rankAtFault) {}
  ErrCode code;
  int rank;
};

}  // namespace gp
