// gloo (TCP transport) communicator for ranks on different machines.
//
// We do not use gloo's own rendezvous stores: the TypeScript layer already
// runs a Redis rendezvous with per-run generations and cleanup, so this class
// only exposes the two halves of a full-mesh connect (publish our listening
// addresses, then connect to the peers' ones).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gloo {
class Context;
namespace transport {
class Device;
class Context;
}  // namespace transport
}  // namespace gloo

namespace gp::gloo_backend {

struct GlooOptions {
  int rank = 0;
  int worldSize = 1;
  std::string hostname;  // address to listen on (resolved), or
  std::string iface;     // a network interface name
  int timeoutMs = 30000;
};

class GlooComm {
 public:
  explicit GlooComm(const GlooOptions& opt);
  ~GlooComm();

  // addresses()[q] is this rank's listening address for peer q (empty for q == rank).
  std::vector<std::vector<char>> addresses() const { return addrs_; }
  // forMe[q] is peer q's address for this rank; blocks until connected.
  void connect(const std::vector<std::vector<char>>& forMe);

  void allReduce(float* buf, size_t n, bool avg);
  void broadcast(float* buf, size_t n, int root);
  void barrier();
  void abort();
  void close();

 private:
  void checkUsable();
  void exchangeDesc(uint64_t kind, uint64_t n, int64_t root, uint64_t op);
  template <typename F>
  void run(const char* what, F&& fn);

  GlooOptions opt_;
  std::shared_ptr<gloo::transport::Device> dev_;
  std::shared_ptr<gloo::transport::Context> tctx_;
  std::shared_ptr<gloo::Context> ctx_;
  std::vector<std::vector<char>> addrs_;
  uint32_t seq_ = 0;
  std::atomic<bool> busy_{false};
  std::atomic<bool> broken_{false};
  std::atomic<bool> aborted_{false};
};

}  // namespace gp::gloo_backend
