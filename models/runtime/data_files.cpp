#include "models/runtime/data_files.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "models/error.h"
#include "vitscope/version.h"

namespace fs = std::filesystem;

namespace vitscope {

namespace {

const char *const kBundledModels[] = {"fmnist-mae", "fmnist-clip"};

std::string executableDir()
{
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : exe.parent_path().string();
}

} // namespace

std::vector<std::string> dataDirs()
{
    std::vector<std::string> dirs;
    if (const char *env = std::getenv("VITSCOPE_DATA_DIR"); env && *env)
        dirs.emplace_back(env);
    if (const auto exe = executableDir(); !exe.empty())
        dirs.push_back((fs::path(exe).parent_path() / "share" / "vitscope").lexically_normal().string());
    dirs.emplace_back(VITSCOPE_SOURCE_RESOURCES_DIR);
    return dirs;
}

std::string findDataFile(const std::string &relative)
{
    std::string looked;
    for (const auto &d : dataDirs()) {
        const auto p = fs::path(d) / relative;
        std::error_code ec;
        if (fs::exists(p, ec))
            return p.string();
        looked += (looked.empty() ? "" : ", ") + d;
    }
    throw FileError(relative, "not found in the data folders (" + looked + "); set VITSCOPE_DATA_DIR");
}

std::vector<std::string> bundledModelNames()
{
    std::vector<std::string> names;
    for (const char *name : kBundledModels) {
        for (const auto &d : dataDirs()) {
            std::error_code ec;
            if (fs::exists(fs::path(d) / "models" / name / "config.json", ec)) {
                names.emplace_back(name);
                break;
            }
        }
    }
    return names;
}

std::string resolveModelDir(const std::string &arg)
{
    std::error_code ec;
    for (const char *name : kBundledModels)
        if (arg == name)
            return fs::path(findDataFile("models/" + arg + "/config.json")).parent_path().string();
    if (fs::is_directory(arg, ec) || fs::is_regular_file(arg, ec))
        return arg; // a folder or a checkpoint file: models/checkpoints/model_source.h tells which

    std::string names;
    for (const char *name : kBundledModels)
        names += (names.empty() ? "" : ", ") + std::string(name);
    throw FileError(arg, fs::exists(arg, ec) ? "not a file or folder"
                                             : "missing: no such file or folder, and not a bundled model name (" +
                                                   names + ")");
}

std::string cacheDir()
{
    if (const char *d = std::getenv("VITSCOPE_CACHE_DIR"); d && *d)
        return d;
    if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
        return (fs::path(x) / "vitscope").string();
    if (const char *h = std::getenv("HOME"); h && *h)
        return (fs::path(h) / ".cache" / "vitscope").string();
    return {};
}

} // namespace vitscope
