// Hands a Provider to JavaScript as a type-tagged External holding a
// `const gp_coll_abi*`, for another addon to unwrap.
#pragma once

#include <napi.h>

#include <memory>

#include "provider.h"

namespace gp::abi {

Napi::Value MakeExternal(Napi::Env env, std::shared_ptr<Provider> provider);

}  // namespace gp::abi
