cmd_Release/obj.target/gradpool_torch/src/torch_engine.o := g++ -o Release/obj.target/gradpool_torch/src/torch_engine.o ../src/torch_engine.cc '-DNODE_GYP_MODULE_NAME=gradpool_torch' '-DUSING_UV_SHARED=1' '-DUSING_V8_SHARED=1' '-DV8_DEPRECATION_WARNINGS=1' '-D_GLIBCXX_USE_CXX11_ABI=1' '-D_FILE_OFFSET_BITS=64' '-D_LARGEFILE_SOURCE' '-D__STDC_FORMAT_MACROS' '-DOPENSSL_NO_PINSHARED' '-DOPENSSL_THREADS' '-DNAPI_VERSION=8' '-DNAPI_CPP_EXCEPTIONS' '-DNODE_ADDON_API_DISABLE_DEPRECATED' '-DBUILDING_NODE_EXTENSION' -I/usr/include/node -I/usr/src -I/usr/deps/openssl/config -I/usr/deps/openssl/openssl/include -I/usr/deps/uv/include -I/usr/deps/zlib -I/usr/deps/v8/include -I/work/main/node_modules/node-addon-api  -fPIC -pthread -Wall -Wextra -Wno-unused-parameter -m64 -fno-omit-frame-pointer -std=c++17 -O2 -ftree-vectorize -fexceptions -frtti -pthread -fno-math-errno -Wall -Wno-unused-function -Wno-unused-parameter -Wno-unknown-pragmas -Wno-sign-compare -isystem /usr/lib/python3/dist-packages/torch/include -isystem /usr/lib/python3/dist-packages/torch/include/torch/csrc/api/include -D_GLIBCXX_USE_CXX11_ABI=1 -MMD -MF ./Release/.deps/Release/obj.target/gradpool_torch/src/torch_engine.o.d.raw   -c
Release/obj.target/gradpool_torch/src/torch_engine.o: \
 ../src/torch_engine.cc /work/main/node_modules/node-addon-api/napi.h \
 /usr/include/node/node_api.h /usr/include/node/js_native_api.h \
 /usr/include/node/js_native_api_types.h \
 /usr/include/node/node_api_types.h \
 /work/main/node_modules/node-addon-api/napi-inl.h \
 /work/main/node_modules/node-addon-api/napi.h
../src/torch_engine.cc:
/work/main/node_modules/node-addon-api/napi.h:
/usr/include/node/node_api.h:
/usr/include/node/js_native_api.h:
/usr/include/node/js_native_api_types.h:
/usr/include/node/node_api_types.h:
/work/main/node_modules/node-addon-api/napi-inl.h:
/work/main/node_modules/node-addon-api/napi.h:
