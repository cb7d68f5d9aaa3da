#include "models/kernels/fast_paths.h"

#include <cstdlib>
#include <mutex>
#include <sstream>

#include "models/error.h"

namespace vitscope {

namespace {

std::mutex g_mutex;
bool g_read = false;
FastPaths g_paths;
thread_local bool t_scoped = false; // a ThreadFastPathsScope is open on this thread
thread_local FastPaths t_paths;

void setNamed(FastPaths &p, const std::string &name, bool on)
{
    if (name == "quickgelu-fold")
        p.quickGeluFold = on;
    else if (name == "quickgelu-fold-cpu")
        p.quickGeluFoldCpu = on;
    else if (name == "qkv-unbind")
        p.qkvUnbind = on;
    else if (name == "fused-adamw")
        p.fusedAdamW = on;
    else if (name == "inference-mode")
        p.inferenceMode = on;
    else if (name == "bf16-text")
        p.bf16Text = on;
    else if (name == "bf16-image")
        p.bf16Image = on;
    else
        throw Error("unknown fast path '" + name +
                    "' in VITSCOPE_FAST_PATHS: expected quickgelu-fold, quickgelu-fold-cpu, qkv-unbind, fused-adamw, "
                    "inference-mode, bf16-text, bf16-image, all or none (a leading '-' turns one off)");
}

} // namespace

FastPaths parseFastPaths(const std::string &list, FastPaths p)
{
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ',')) {
        const auto first = item.find_first_not_of(" \t"), last = item.find_last_not_of(" \t");
        if (first == std::string::npos)
            continue;
        item = item.substr(first, last - first + 1);
        if (item == "none") {
            p = FastPaths{false, false, false, false, false, false, false};
        } else if (item == "all") {
            const FastPaths optIn = p;
            p = FastPaths{};
            p.quickGeluFoldCpu = optIn.quickGeluFoldCpu;
            p.bf16Text = optIn.bf16Text;
            p.bf16Image = optIn.bf16Image;
        } else if (item[0] == '-') {
            setNamed(p, item.substr(1), false);
        } else {
            setNamed(p, item, true);
        }
    }
    return p;
}

FastPaths fastPaths()
{
    if (t_scoped)
        return t_paths;
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_read) {
        const char *env = std::getenv("VITSCOPE_FAST_PATHS");
        g_paths = env ? parseFastPaths(env) : FastPaths{};
        g_read = true;
    }
    return g_paths;
}

void setFastPaths(const FastPaths &paths)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    g_paths = paths;
    g_read = true;
}

ThreadFastPathsScope::ThreadFastPathsScope(const FastPaths &paths) : m_hadOuter(t_scoped), m_outer(t_paths)
{
    t_paths = paths;
    t_scoped = true;
}

ThreadFastPathsScope::~ThreadFastPathsScope()
{
    t_paths = m_outer;
    t_scoped = m_hadOuter;
}

std::string fastPathsName(const FastPaths &p)
{
    std::string out;
    auto add = [&](bool on, const char *name) {
        if (on)
            out += (out.empty() ? "" : ",") + std::string(name);
    };
    add(p.quickGeluFold, "quickgelu-fold");
    add(p.quickGeluFoldCpu, "quickgelu-fold-cpu");
    add(p.qkvUnbind, "qkv-unbind");
    add(p.fusedAdamW, "fused-adamw");
    add(p.inferenceMode, "inference-mode");
    add(p.bf16Text, "bf16-text");
    add(p.bf16Image, "bf16-image");
    return out.empty() ? "none" : out;
}

} // namespace vitscope
