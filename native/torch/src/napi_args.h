// Between JavaScript and ATen: the engine's arguments (typed arrays, the
// config object) as tensors and settings, results back as typed arrays, and
// the thread settings. Header-only: one more translation unit would cost a
// libtorch compile.
#pragma once

#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <dlfcn.h>

#include <cstring>
#include <stdexcept>
#include <string>

#include "model/model.h"

namespace gp {

// torch.set_num_threads sizes ATen's pool; a BLAS with its own pool (Debian's torch runs
// on libblas.so.3 = OpenBLAS) needs telling too, or its spinning workers fight ours.
inline void setThreads(int n) {
  at::set_num_threads(n);
  // Node dlopens addons RTLD_LOCAL, so look in the already-loaded BLAS libraries too.
  void* handles[] = {RTLD_DEFAULT, dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_NOLOAD),
                     dlopen("libblas.so.3", RTLD_LAZY | RTLD_NOLOAD)};
  for (void* h : handles) {
    if (!h) continue;
    if (auto f = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"))) {
      f(n);
      return;
    }
  }
}

// The model's settings from the constructor's options: config.json fields, and the
// head's (numLabels, classifierDropout; the latter defaults to hidden_dropout_prob).
inline Cfg cfgOf(const Napi::Object& o) {
  auto c = o.Get("config").As<Napi::Object>();
  auto num = [&](const char* k) { return c.Get(k).As<Napi::Number>().DoubleValue(); };
  Cfg cfg;
  cfg.V = (int64_t)num("vocab_size");
  cfg.H = (int64_t)num("hidden_size");
  cfg.L = (int64_t)num("num_hidden_layers");
  cfg.nh = (int64_t)num("num_attention_heads");
  cfg.I = (int64_t)num("intermediate_size");
  cfg.P = (int64_t)num("max_position_embeddings");
  cfg.T = (int64_t)num("type_vocab_size");
  cfg.eps = num("layer_norm_eps");
  cfg.pad = (int64_t)num("pad_token_id");
  cfg.hdrop = num("hidden_dropout_prob");
  cfg.adrop = num("attention_probs_dropout_prob");
  cfg.numLabels = o.Has("numLabels") ? (int64_t)o.Get("numLabels").As<Napi::Number>().DoubleValue() : 0;
  cfg.clsDrop = o.Has("classifierDropout") ? o.Get("classifierDropout").As<Napi::Number>().DoubleValue() : cfg.hdrop;
  // The rest (families' own fields: booleans as 0/1, numeric lists) for the family's encoder.
  auto keys = c.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value v = c.Get(k);
    if (v.IsNumber()) cfg.num[k] = v.As<Napi::Number>().DoubleValue();
    else if (v.IsBoolean()) cfg.num[k] = v.As<Napi::Boolean>().Value() ? 1 : 0;
    else if (v.IsArray()) {
      auto a = v.As<Napi::Array>();
      std::vector<double> xs;
      bool numeric = true;
      for (uint32_t j = 0; j < a.Length() && numeric; j++) {
        Napi::Value e = a.Get(j);
        if (e.IsNumber()) xs.push_back(e.As<Napi::Number>().DoubleValue());
        else numeric = false;
      }
      if (numeric) cfg.lists[k] = std::move(xs);
    }
  }
  return cfg;
}

// An Int32Array of n values as an int64 tensor on the device.
inline at::Tensor longsOf(const Napi::Value& v, int64_t n, const char* what, const at::Device& dev) {
  auto a = v.As<Napi::Int32Array>();
  if ((int64_t)a.ElementLength() != n) throw std::runtime_error(std::string(what) + ": wrong length");
  return at::from_blob(a.Data(), {n}, at::kInt).to(dev, at::kLong);
}

// (ids, tokenTypeIds, attentionMask, B, S) from arguments start..start+4.
inline Batch batchOf(const Napi::CallbackInfo& info, int start, int64_t maxPositions, const at::Device& dev) {
  Batch b;
  b.B = info[start + 3].As<Napi::Number>().Int64Value();
  b.S = info[start + 4].As<Napi::Number>().Int64Value();
  if (b.S > maxPositions) throw std::runtime_error("sequence length exceeds max_position_embeddings");
  const int64_t n = b.B * b.S;
  b.ids = longsOf(info[start], n, "inputIds", dev).view({b.B, b.S});
  b.tt = longsOf(info[start + 1], n, "tokenTypeIds", dev).view({b.B, b.S});
  b.am = longsOf(info[start + 2], n, "attentionMask", dev).view({b.B, b.S});
  return b;
}

// An Int32Array of any length as int64 indices on the device.
inline at::Tensor indexOf(const Napi::Value& v, const at::Device& dev) {
  auto a = v.As<Napi::Int32Array>();
  return at::from_blob(a.Data(), {(int64_t)a.ElementLength()}, at::kInt).to(dev, at::kLong);
}

template <typename T, typename A>
A toJs(Napi::Env env, const at::Tensor& t, at::ScalarType st) {
  at::Tensor c = t.detach().to(at::kCPU, st).contiguous();
  A out = A::New(env, (size_t)c.numel());
  if (c.numel()) std::memcpy(out.Data(), c.data_ptr<T>(), (size_t)c.numel() * sizeof(T));
  return out;
}

}  // namespace gp
