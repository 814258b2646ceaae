# Built by scripts/build.mjs, which detects optional SDKs and passes them in
# through GRADPOOL_GYP_* environment variables (gyp itself cannot probe).
{
  "variables": {
    "gp_napi_include%": "<!(node -e \"process.stdout.write(process.env.GRADPOOL_GYP_NAPI_INCLUDE || '')\")",
    "gp_with_gloo%": "<!(node -e \"process.stdout.write(process.env.GRADPOOL_GYP_WITH_GLOO || '0')\")",
    "gp_gloo_include%": "<!(node -e \"process.stdout.write(process.env.GRADPOOL_GYP_GLOO_INCLUDE || '/usr/include')\")",
    "gp_gloo_libdir%": "<!(node -e \"process.stdout.write(process.env.GRADPOOL_GYP_GLOO_LIBDIR || '/usr/lib')\")",
    "gp_sdk_includes%": "<!(node -e \"process.stdout.write(process.env.GRADPOOL_GYP_SDK_INCLUDES || '')\")"
  },
  "targets": [
    {
      "target_name": "gradpool_collectives",
      "sources": [
        "src/addon.cc",
        "src/common/memcpy_bench.cc",
        "src/common/work.cc",
        "src/common/op_queue.cc",
        "src/abi/external.cc",
        "src/shm/segment.cc",
        "src/shm/sync.cc",
        "src/shm/reduce.cc",
        "src/shm/shm_comm.cc",
        "src/shm/binding.cc",
        "src/nccl/loader.cc",
        "src/nccl/nccl_comm.cc",
        "src/nccl/nccl_ops.cc",
        "src/nccl/nccl_progress.cc",
        "src/nccl/binding.cc",
        "src/nccl/api_check.cc"
      ],
      "include_dirs": ["<(gp_napi_include)", "include"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-pthread", "-Wall", "-Wno-unused-function"],
      "libraries": ["-ldl", "-lpthread", "-lrt"],
      "conditions": [
        ["gp_sdk_includes!=''", {
          "cflags_cc": ["<!@(node -e \"process.stdout.write((process.env.GRADPOOL_GYP_SDK_INCLUDES||'').split(':').filter(Boolean).map(d=>'-isystem '+d).join(' '))\")"]
        }],
        ["gp_with_gloo==1", {
          "sources": ["src/gloo/gloo_comm.cc", "src/gloo/binding.cc"],
          "defines": ["GP_WITH_GLOO=1", "HIREDIS_NESTED_INCLUDE"],
          "include_dirs": ["<(gp_gloo_include)"],
          "libraries": ["-L<(gp_gloo_libdir)", "-Wl,-rpath,<(gp_gloo_libdir)", "-lgloo"]
        }]
      ]
    }
  ]
}
