// Module entry: registers each backend that this build contains.
#include <napi.h>

#include <string>

#ifdef GP_WITH_GLOO
#include <gloo/config.h>
#endif

namespace gp {
Napi::Value MemcpyBandwidth(const Napi::CallbackInfo& info);
namespace shm {
Napi::Function DefineShm(Napi::Env env);
}
namespace nccl {
void Register(Napi::Env env, Napi::Object exports);
}
#ifdef GP_WITH_GLOO
namespace gloo_backend {
Napi::Function DefineGloo(Napi::Env env);
}
#endif
}  // namespace gp

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("ShmComm", gp::shm::DefineShm(env));
  gp::nccl::Register(env, exports);
#ifdef GP_WITH_GLOO
  exports.Set("GlooComm", gp::gloo_backend::DefineGloo(env));
#endif
  exports.Set("memcpyTimes", Napi::Function::New(env, gp::MemcpyBandwidth));
  Napi::Object features = Napi::Object::New(env);
  features.Set("shm", true);
#ifdef GP_WITH_GLOO
  features.Set("gloo", true);
  features.Set("glooVersion", std::to_string(GLOO_VERSION_MAJOR) + "." +
                                  std::to_string(GLOO_VERSION_MINOR) + "." +
                                  std::to_string(GLOO_VERSION_PATCH));
#else
  features.Set("gloo", false);
#endif
  features.Set("nccl", true);  // always built; libraries are loaded at run time
  exports.Set("features", features);
  return exports;
}

NODE_API_MODULE(gradpool_collectives, Init)
