#include "trainer/run_folder.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "models/error.h"
#include "models/json_io.h"

namespace vitscope::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::vector<std::pair<int64_t, std::string>> listCheckpoints(const std::string &dir)
{
    std::vector<std::pair<int64_t, std::string>> out;
    const fs::path cdir = fs::path(dir) / "checkpoints";
    std::error_code ec;
    if (!fs::is_directory(cdir, ec))
        return out;
    static const std::regex pattern("checkpoint-([0-9]+)\\.safetensors");
    for (const auto &e : fs::directory_iterator(cdir)) {
        std::smatch m;
        const std::string name = e.path().filename().string();
        if (std::regex_match(name, m, pattern))
            out.emplace_back(std::stoll(m[1].str()), e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

RunFolder RunFolder::create(const std::string &dir, const json &config)
{
    std::error_code ec;
    if (fs::exists(fs::path(dir) / "config.json"))
        throw FileError(dir, "already holds a run (config.json): resume it with `vitscope-cli resume " + dir +
                                 "` or choose another --out");
    fs::create_directories(fs::path(dir) / "checkpoints", ec);
    if (ec)
        throw FileError(dir, "cannot create the run folder: " + ec.message());
    RunFolder r;
    r.m_dir = dir;
    r.m_config = config;
    writeJsonFile((fs::path(dir) / "config.json").string(), config);
    std::ofstream(r.metricsPath(), std::ios::trunc);
    return r;
}

RunFolder RunFolder::open(const std::string &dir)
{
    RunFolder r;
    r.m_dir = dir;
    const std::string path = (fs::path(dir) / "config.json").string();
    if (!fs::exists(path))
        throw FileError(path, fs::exists(dir) ? "missing: is this a run folder?" : "missing (no such run folder)");
    r.m_config = readJsonFile(path);
    if (!r.m_config.is_object() || !r.m_config.contains("kind"))
        throw FileError(path, "not a vitscope run configuration (no \"kind\")");
    fs::create_directories(fs::path(dir) / "checkpoints");
    return r;
}

RunFolder RunFolder::follower(const std::string &dir, const json &config)
{
    RunFolder r;
    r.m_dir = dir;
    r.m_config = config;
    return r;
}

std::string RunFolder::modelDir() const
{
    return (fs::path(m_dir) / "model").string();
}

std::string RunFolder::metricsPath() const
{
    return (fs::path(m_dir) / "metrics.jsonl").string();
}

void RunFolder::appendMetrics(const json &record)
{
    std::ofstream out(metricsPath(), std::ios::app);
    out << record.dump() << '\n';
    out.flush();
    if (!out)
        throw FileError(metricsPath(), std::string("cannot append: ") + std::strerror(errno));
}

std::string RunFolder::saveCheckpoint(int64_t step, const TensorMap &tensors, json state, int keep)
{
    std::error_code ec;
    state["step"] = step;
    state["metrics_bytes"] = fs::exists(metricsPath()) ? uint64_t(fs::file_size(metricsPath(), ec)) : 0;
    char name[64];
    std::snprintf(name, sizeof name, "checkpoint-%09lld.safetensors", static_cast<long long>(step));
    const std::string path = (fs::path(m_dir) / "checkpoints" / name).string();
    writeSafetensors(path, tensors, {{"vitscope_state", state.dump()}});
    auto all = listCheckpoints(m_dir);
    for (std::size_t i = 0; i + std::size_t(std::max(keep, 1)) < all.size(); ++i)
        fs::remove(all[i].second, ec);
    return path;
}

std::optional<Checkpoint> RunFolder::latestCheckpoint() const
{
    auto all = listCheckpoints(m_dir);
    for (auto it = all.rbegin(); it != all.rend(); ++it) {
        try {
            Metadata meta;
            Checkpoint c;
            c.tensors = readSafetensors(it->second, &meta);
            c.state = json::parse(meta.at("vitscope_state"));
            c.path = it->second;
            c.step = c.state.at("step").get<int64_t>();
            return c;
        } catch (const std::exception &) {
            continue; // damaged (not ours, or the disk lied): try the one before
        }
    }
    return std::nullopt;
}

void RunFolder::truncateMetrics(uint64_t bytes)
{
    std::error_code ec;
    if (!fs::exists(metricsPath())) {
        std::ofstream(metricsPath(), std::ios::trunc);
        return;
    }
    if (fs::file_size(metricsPath(), ec) > bytes)
        fs::resize_file(metricsPath(), bytes, ec);
    if (ec)
        throw FileError(metricsPath(), "cannot cut back to the last checkpoint: " + ec.message());
}

} // namespace vitscope::train
