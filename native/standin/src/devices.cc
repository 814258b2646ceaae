// CUDA runtime stand-in: devices, contexts, versions, errors and the event log.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "internal.h"
#include "state.h"

namespace gpsi {

namespace {
thread_local int tDevice = -1;  // -1: never set on this thread (CUDA then uses 0)

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}
}  // namespace

State& state() {
  static State* s = new State();
  return *s;
}

void initDriver(State& s) {
  if (s.driverReady) return;
  s.driverReady = true;
  const char* gpus = std::getenv("GP_STANDIN_GPUS");
  std::vector<std::string> all = split(gpus ? gpus : "0000:01:00.0");
  // Without CUDA_DEVICE_ORDER the driver enumerates "fastest first", which the
  // stand-in models as the order GP_STANDIN_GPUS lists; PCI_BUS_ID sorts.
  const char* order = std::getenv("CUDA_DEVICE_ORDER");
  if (order != nullptr && std::strcmp(order, "PCI_BUS_ID") == 0) std::sort(all.begin(), all.end());
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  if (visible == nullptr) {
    s.busIds = all;
  } else {
    // Indices into the ordered list; enumeration stops at the first invalid entry.
    for (const std::string& item : split(visible)) {
      char* end = nullptr;
      long i = std::strtol(item.c_str(), &end, 10);
      if (*end != '\0' || i < 0 || i >= long(all.size())) break;
      s.busIds.push_back(all[size_t(i)]);
    }
  }
}

int currentDevice() { return tDevice < 0 ? 0 : tDevice; }

void touchContext(State& s, int device) {
  if (s.contexts.insert(device).second) {
    log("\"ev\":\"context\",\"device\":" + std::to_string(device) + ",\"busId\":\"" +
        s.busIds[size_t(device)] + "\"");
  }
}

void log(const std::string& fields) {
  const char* path = std::getenv("GP_STANDIN_LOG");
  if (path == nullptr || *path == '\0') return;
  std::string line = "{\"pid\":" + std::to_string(getpid()) + "," + fields + "}\n";
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return;
  // One write per line: O_APPEND keeps lines of concurrent processes whole.
  ssize_t ignored = write(fd, line.data(), line.size());
  (void)ignored;
  close(fd);
}

void violation(const std::string& what) {
  std::fprintf(stderr, "[cuda-standin] VIOLATION: %s\n", what.c_str());
  log("\"ev\":\"violation\",\"what\":\"" + jsonEscape(what) + "\"");
}

}  // namespace gpsi

using namespace gpsi;

extern "C" {

cudaError_t cudaGetDeviceCount(int* count) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  initDriver(s);
  *count = int(s.busIds.size());
  return s.busIds.empty() ? cudaErrorNoDevice : cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  initDriver(s);
  if (device < 0 || device >= int(s.busIds.size())) return cudaErrorInvalidDevice;
  tDevice = device;
  touchContext(s, device);  // since CUDA 12, cudaSetDevice initialises the primary context
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = currentDevice();
  return cudaSuccess;
}

cudaError_t cudaDeviceGetPCIBusId(char* pciBusId, int len, int device) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  initDriver(s);
  if (device < 0 || device >= int(s.busIds.size())) return cudaErrorInvalidDevice;
  if (len <= 0) return cudaErrorInvalidValue;
  std::snprintf(pciBusId, size_t(len), "%s", s.busIds[size_t(device)].c_str());
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return cudaSuccess;
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (int(e)) {
    case 0: return "no error";
    case 1: return "invalid argument";
    case 2: return "out of memory";
    case 100: return "no CUDA-capable device is detected";
    case 101: return "invalid device ordinal";
    case 400: return "invalid resource handle";
    case 600: return "device not ready";
  }
  return "unknown error (CUDA stand-in)";
}

cudaError_t cudaGetLastError(void) { return cudaSuccess; }

int gpsi_current_device() { return currentDevice(); }

const char* gpsi_bus_id(int device) {
  State& s = state();
  std::lock_guard<std::mutex> lk(s.mu);
  initDriver(s);
  return device >= 0 && device < int(s.busIds.size()) ? s.busIds[size_t(device)].c_str() : "";
}

void gpsi_log(const char* fields) { log(fields); }

void gpsi_violation(const char* what) { violation(what); }

}  // extern "C"
