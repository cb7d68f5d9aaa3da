// Precompiled once (target vitscope_models) and reused by every target that includes
// LibTorch: a LibTorch translation unit costs ~25 s to parse without it.
#pragma once
#include <torch/torch.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
