#include "models/checkpoints/pickle_globals.h"
#include "models/checkpoints/pickle.h"

#include <map>
#include <set>

namespace vitscope::pickle {

int64_t TensorRef::numel() const
{
    int64_t n = 1;
    for (int64_t s : sizes)
        n *= s;
    return n;
}

int64_t TensorRef::extent() const
{
    if (numel() == 0)
        return 0;
    int64_t e = offset + 1;
    for (std::size_t i = 0; i < sizes.size(); ++i)
        e += (sizes[i] - 1) * strides[i];
    return e;
}

const Value *Value::get(const std::string &key) const
{
    if (kind != Kind::Dict)
        return nullptr;
    for (const auto &[k, v] : entries)
        if (k->kind == Kind::String && k->text == key)
            return v.get();
    return nullptr;
}

std::string Value::describe() const
{
    switch (kind) {
    case Kind::None: return "None";
    case Kind::Bool: return boolean ? "True" : "False";
    case Kind::Int: return "the integer " + std::to_string(integer);
    case Kind::Float: return "a float";
    case Kind::String: return "the string '" + text.substr(0, 60) + "'";
    case Kind::Bytes: return "bytes";
    case Kind::Tuple: return "a tuple of " + std::to_string(items.size());
    case Kind::List: return "a list of " + std::to_string(items.size());
    case Kind::Dict: return "a dict of " + std::to_string(entries.size()) + " entries";
    case Kind::Global: return "the global " + text;
    case Kind::Object: return "a call of " + text + " (not run)";
    case Kind::Tensor: {
        std::string s = "a tensor (";
        for (std::size_t i = 0; i < tensor->sizes.size(); ++i)
            s += (i ? ", " : "") + std::to_string(tensor->sizes[i]);
        return s + ")";
    }
    case Kind::Storage: return "a storage";
    case Kind::Dtype: return "a dtype";
    }
    return "a value";
}

bool storageTypeDtype(const std::string &name, c10::ScalarType &out)
{
    static const std::map<std::string, c10::ScalarType> types = {
        {"torch.FloatStorage", c10::ScalarType::Float},   {"torch.DoubleStorage", c10::ScalarType::Double},
        {"torch.HalfStorage", c10::ScalarType::Half},     {"torch.BFloat16Storage", c10::ScalarType::BFloat16},
        {"torch.LongStorage", c10::ScalarType::Long},     {"torch.IntStorage", c10::ScalarType::Int},
        {"torch.ShortStorage", c10::ScalarType::Short},   {"torch.CharStorage", c10::ScalarType::Char},
        {"torch.ByteStorage", c10::ScalarType::Byte},     {"torch.BoolStorage", c10::ScalarType::Bool},
        {"torch.UntypedStorage", c10::ScalarType::Byte},  {"torch.storage.UntypedStorage", c10::ScalarType::Byte},
    };
    auto it = types.find(name);
    if (it == types.end())
        return false;
    out = it->second;
    return true;
}

bool dtypeGlobal(const std::string &name, c10::ScalarType &out)
{
    static const std::map<std::string, c10::ScalarType> types = {
        {"torch.float32", c10::ScalarType::Float}, {"torch.float", c10::ScalarType::Float},
        {"torch.float64", c10::ScalarType::Double}, {"torch.double", c10::ScalarType::Double},
        {"torch.float16", c10::ScalarType::Half}, {"torch.half", c10::ScalarType::Half},
        {"torch.bfloat16", c10::ScalarType::BFloat16}, {"torch.int64", c10::ScalarType::Long},
        {"torch.long", c10::ScalarType::Long}, {"torch.int32", c10::ScalarType::Int},
        {"torch.int", c10::ScalarType::Int}, {"torch.int16", c10::ScalarType::Short},
        {"torch.int8", c10::ScalarType::Char}, {"torch.uint8", c10::ScalarType::Byte},
        {"torch.bool", c10::ScalarType::Bool},
    };
    auto it = types.find(name);
    if (it == types.end())
        return false;
    out = it->second;
    return true;
}

// Globals whose only purpose in a pickle is to run code: a file naming one is refused
// outright (everything else unknown is an inert placeholder).
bool runsCode(const std::string &module, const std::string &name)
{
    static const std::set<std::string> modules = {
        "os", "posix", "nt", "subprocess", "sys", "importlib", "runpy", "pickle", "_pickle", "shutil",
        "socket", "pty", "webbrowser", "code", "codeop", "ctypes", "marshal", "types", "functools",
        "operator", "platform", "multiprocessing", "signal", "tempfile", "pathlib", "io", "_io",
        "asyncio", "commands", "popen2", "timeit", "pdb", "bdb", "site", "torch.hub", "urllib",
        "http", "ftplib", "smtplib", "telnetlib", "requests", "shelve", "dbm", "zipimport", "imp",
        "cProfile", "profile", "trace", "threading", "_thread", "sqlite3", "glob", "inspect"};
    static const std::set<std::string> builtins = {
        "eval", "exec", "execfile", "compile", "open", "getattr", "setattr", "delattr", "__import__",
        "globals", "locals", "vars", "input", "breakpoint", "apply", "exit", "quit", "help", "memoryview",
        "object", "type", "super", "classmethod", "staticmethod", "property"};
    const std::string root = module.substr(0, module.find('.'));
    if (modules.count(module) || modules.count(root))
        return true;
    return (module == "builtins" || module == "__builtin__") && builtins.count(name);
}

bool isAllowedGlobal(const std::string &name)
{
    static const std::set<std::string> names = {
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2", "torch.nn.parameter.Parameter", "torch.Size",
        "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_doublelist",
        "torch.jit._pickle.build_boollist", "torch.jit._pickle.build_tensorlist",
        "torch.jit._pickle.build_genericlist", "torch.jit._pickle.restore_type_tag", "torch.device",
        "builtins.set", "builtins.frozenset", "builtins.list", "builtins.tuple", "builtins.dict"};
    return names.count(name) > 0;
}

} // namespace vitscope::pickle
