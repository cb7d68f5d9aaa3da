#pragma once
// The unpickler's view of Python globals (internal to models/checkpoints/pickle.cpp):
// which ones it interprets, which ones make a file refused, and the dtype tables.

#include <string>

#include <c10/core/ScalarType.h>

namespace vitscope::pickle {

// "torch.float32", "torch.half", ...: the dtype objects a pickle may name.
bool dtypeGlobal(const std::string &qualifiedName, c10::ScalarType &out);
// Globals whose only purpose in a pickle is to run code (os.system, builtins.eval, ...):
// a file naming one is refused outright.
bool runsCode(const std::string &module, const std::string &name);
// The globals the unpickler interprets itself (PyTorch's weights_only set); every other
// one becomes an inert placeholder.
bool isAllowedGlobal(const std::string &qualifiedName);

} // namespace vitscope::pickle
