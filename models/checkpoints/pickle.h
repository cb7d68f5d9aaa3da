#pragma once
// A restricted unpickler for the pickles inside PyTorch checkpoints (torch.save's
// data.pkl, TorchScript's data.pkl and constants.pkl). It builds a tree of plain values
// and never calls anything a pickle names:
//   - allowed globals, the ones PyTorch's own weights_only unpickler allows, are
//     interpreted by this code (collections.OrderedDict, torch._utils._rebuild_tensor_v2,
//     _rebuild_parameter, the torch.*Storage types, dtypes, torch.Size, the TorchScript
//     list builders);
//   - globals that exist to run code (os.system, builtins.eval, subprocess.*, ...) make
//     the whole file refused, naming the global;
//   - any other global (argparse.Namespace in FAIR's checkpoints, __torch__.* classes in
//     TorchScript archives) becomes an inert placeholder: "calling" it records the
//     arguments and BUILD records the state, so the tensors inside stay reachable.
// Limits on memo entries, stack size, nesting depth and value count; every length is
// checked against the bytes left. Containers cannot be changed once they sit inside
// another value, so no cycle can be built. Errors: vitscope::FileError naming `source`.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <c10/core/ScalarType.h>

namespace vitscope::pickle {

// A storage named by a persistent id ('storage', torch.FloatStorage, key, location, numel).
struct StorageRef {
    std::string key;      // the record's name under the archive's data/ folder
    c10::ScalarType dtype = c10::ScalarType::Float;
    int64_t numel = 0;    // elements of dtype
    std::string location; // "cpu", "cuda:0": where it was saved from
};

// A tensor: a strided view into a storage.
struct TensorRef {
    std::shared_ptr<StorageRef> storage;
    int64_t offset = 0; // elements
    std::vector<int64_t> sizes, strides;

    int64_t numel() const;
    // Elements of the storage the view reaches: offset + 1 + sum((size - 1) * stride), 0 when empty.
    int64_t extent() const;
};

enum class Kind { None, Bool, Int, Float, String, Bytes, Tuple, List, Dict, Global, Object, Tensor, Storage, Dtype };

struct Value;
using ValuePtr = std::shared_ptr<Value>;

struct Value {
    Kind kind = Kind::None;
    bool boolean = false;
    int64_t integer = 0;
    double real = 0;
    std::string text;                                   // String, Bytes; Global and Object: "module.name"
    std::vector<ValuePtr> items;                        // Tuple, List; Object: the arguments of the call
    std::vector<std::pair<ValuePtr, ValuePtr>> entries; // Dict, in pickle order
    ValuePtr state;                                     // Object (and Dict): what BUILD gave it
    std::shared_ptr<TensorRef> tensor;                  // Tensor
    std::shared_ptr<StorageRef> storage;                // Storage
    c10::ScalarType dtype = c10::ScalarType::Float;     // Dtype; Global of a storage type
    bool sealed = false;                                // inside another value: immutable
    int depth = 0;                                      // nesting below this value

    // Dict lookup by string key; nullptr when absent (or not a dict).
    const Value *get(const std::string &key) const;
    // "a dict of 3 entries", "a call of argparse.Namespace", "a tensor (768, 3)", ...
    std::string describe() const;
};

struct Limits {
    std::size_t maxMemo = std::size_t(1) << 22;  // memo entries
    std::size_t maxStack = std::size_t(1) << 20; // values on the stack
    int maxDepth = 200;                          // nesting of containers
    std::size_t maxValues = 50'000'000;          // values created in all
};

struct Result {
    ValuePtr root;
    std::vector<std::string> placeholderGlobals; // globals turned into inert placeholders, sorted, unique
};

// Parses `size` bytes of pickle (protocols 0 to 5, minus out-of-band buffers and the
// extension registry). Throws FileError(source, ...) on anything malformed, over a limit
// or refused.
Result unpickle(const char *data, std::size_t size, const std::string &source, const Limits &limits = {});

// The dtype a "torch.FloatStorage"-style name stands for; false when it names none.
bool storageTypeDtype(const std::string &qualifiedName, c10::ScalarType &out);

} // namespace vitscope::pickle
