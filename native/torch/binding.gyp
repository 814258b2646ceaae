# The libtorch engine addon (build/Release/gradpool_torch.node). Built by
# build.mjs, which finds a libtorch (GRADPOOL_LIBTORCH, the torch Python
# package, or Debian's libtorch-dev) and passes it in through
# GRADPOOL_TORCH_GYP_* environment variables: gyp itself cannot probe.
{
  "variables": {
    "gp_napi_include%": "<!(node -e \"process.stdout.write(process.env.GRADPOOL_TORCH_GYP_NAPI_INCLUDE || '')\")",
    "gp_torch_libdir%": "<!(node -e \"process.stdout.write(process.env.GRADPOOL_TORCH_GYP_LIBDIR || '/usr/lib')\")"
  },
  "targets": [
    {
      "target_name": "gradpool_torch",
      "sources": [
        "src/torch_engine.cc",
        "src/grad_buckets.cc",
        "src/model/bert_encoder.cc",
        "src/model/roberta_encoder.cc",
        "src/model/distilbert_encoder.cc",
        "src/model/distilbert_mlm_head.cc",
        "src/model/modernbert_encoder.cc",
        "src/model/modernbert_mlm_head.cc",
        "src/model/mlm_head.cc",
        "src/model/classification_head.cc"
      ],
      "include_dirs": ["<(gp_napi_include)", "../include"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-fno-rtti", "-O3"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20", "-O3"],
      "cflags_cc": [
        "<!(node -e \"process.stdout.write('-std=' + (process.env.GRADPOOL_TORCH_GYP_STD || 'c++17'))\")", "-O2", "-ftree-vectorize", "-fexceptions", "-frtti", "-pthread", "-fno-math-errno",
        "-Wall", "-Wno-unused-function", "-Wno-unused-parameter", "-Wno-unknown-pragmas", "-Wno-sign-compare",
        "<!@(node -e \"process.stdout.write((process.env.GRADPOOL_TORCH_GYP_INCLUDES||'').split(':').filter(Boolean).map(d=>'-isystem '+d).join(' '))\")",
        "<!@(node -e \"process.stdout.write(process.env.GRADPOOL_TORCH_GYP_DEFINES||'')\")"
      ],
      "libraries": [
        "-L<(gp_torch_libdir)",
        "-Wl,-rpath,<(gp_torch_libdir)",
        "<!@(node -e \"process.stdout.write(process.env.GRADPOOL_TORCH_GYP_LIBS||'-ltorch -ltorch_cpu -lc10')\")",
        "-lpthread"
      ]
    }
  ]
}
