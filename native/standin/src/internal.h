// What the NCCL stand-in needs from the CUDA runtime stand-in. Both are
// test-only libraries (see ../README.md); these functions are exported by
// libcudart.so.13 (the stand-in) under a prefix no real library uses, so the
// NCCL stand-in cannot bind to a real CUDA runtime by accident.
#pragma once

#include <cstddef>

extern "C" {
// Device of the current thread (0 when never set), without creating a context.
int gpsi_current_device();
// PCI bus id of a visible device ("" when out of range).
const char* gpsi_bus_id(int device);
// Device a stream belongs to (the legacy default stream: the current device); -1 when invalid.
int gpsi_stream_device(void* stream);
// Device whose allocation holds [p, p + bytes); -1 when it is not device memory.
int gpsi_pointer_device(const void* p, size_t bytes);
// Appends fn(arg) to the stream's queue; 0 on success.
int gpsi_enqueue(void* stream, void (*fn)(void*), void* arg);
// Appends one JSON object (the text between the braces) to GP_STANDIN_LOG.
void gpsi_log(const char* fields);
// Records a misuse (stderr and the log); tests fail on any.
void gpsi_violation(const char* what);
}
