// Argument helpers shared by the backend bindings.
#pragma once

#include <napi.h>

#include <string>

namespace gp {

struct F32View {
  float* data;
  size_t length;
  Napi::Object holder;  // the typed array, pinned while a collective runs
};

inline F32View f32Arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw Napi::TypeError::New(info.Env(), "expected a Float32Array");
  }
  auto arr = info[i].As<Napi::Float32Array>();
  return {arr.Data(), arr.ElementLength(), arr};
}

inline Napi::Object objArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsObject()) {
    throw Napi::TypeError::New(info.Env(), "expected an options object");
  }
  return info[i].As<Napi::Object>();
}

inline int intProp(Napi::Object o, const char* key, int def) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : def;
}

inline double numProp(Napi::Object o, const char* key, double def) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : def;
}

inline std::string strProp(Napi::Object o, const char* key, const std::string& def) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : def;
}

inline bool boolProp(Napi::Object o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : def;
}

}  // namespace gp
