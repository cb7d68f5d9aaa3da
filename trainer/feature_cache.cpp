#include "trainer/feature_cache.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <vector>

#include <spdlog/spdlog.h>

#include "models/error.h"
#include "models/runtime/data_files.h"

namespace vitscope::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// FNV-1a's constants, over 64-bit words (8 bytes per step) with the tail byte by byte.
constexpr uint64_t kOffset = 14695981039346656037ull, kPrime = 1099511628211ull;

struct Hasher {
    uint64_t h = kOffset;
    void bytes(const char *p, std::size_t n)
    {
        std::size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            h = (h ^ w) * kPrime;
        }
        for (; i < n; ++i)
            h = (h ^ uint64_t(static_cast<unsigned char>(p[i]))) * kPrime;
    }
    void text(const std::string &s)
    {
        bytes(s.data(), s.size());
        const char end = 0; // "ab" + "c" differs from "a" + "bc"
        bytes(&end, 1);
    }
    std::string hex() const
    {
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
        return buf;
    }
};

std::vector<fs::path> filesUnder(const fs::path &root)
{
    std::vector<fs::path> files;
    std::error_code ec;
    if (fs::is_regular_file(root, ec))
        return {root};
    if (!fs::is_directory(root, ec))
        throw FileError(root.string(), "no such file or folder");
    for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec))
            files.push_back(it->path());
    if (ec)
        throw FileError(root.string(), "cannot list: " + ec.message());
    std::sort(files.begin(), files.end());
    return files;
}

std::string defaultFolder()
{
    const std::string dir = cacheDir();
    return dir.empty() ? std::string() : (fs::path(dir) / "features").string();
}

} // namespace

std::string contentHash(const std::string &path)
{
    Hasher h;
    const fs::path root(path);
    std::vector<char> buf(1 << 20);
    for (const auto &f : filesUnder(root)) {
        h.text(fs::relative(f, fs::is_directory(root) ? root : root.parent_path()).string());
        std::ifstream in(f, std::ios::binary);
        if (!in)
            throw FileError(f.string(), "cannot read");
        while (in) {
            in.read(buf.data(), std::streamsize(buf.size()));
            h.bytes(buf.data(), std::size_t(in.gcount()));
        }
    }
    return h.hex();
}

std::string metadataFingerprint(const std::string &path)
{
    Hasher h;
    const fs::path root(path);
    for (const auto &f : filesUnder(root)) {
        std::error_code ec;
        const auto size = fs::file_size(f, ec);
        const auto time = fs::last_write_time(f, ec).time_since_epoch().count();
        h.text(f.string() + "|" + std::to_string(size) + "|" + std::to_string(time));
    }
    return h.hex();
}

json FeatureRequest::describe() const
{
    return {{"format", 1},
            {"model", model},
            {"data", data},
            {"data_files", dataPrint},
            {"split", split},
            {"limit", limit},
            {"pool", pool},
            {"transform",
             {{"size", transform.size},
              {"channels", transform.channels},
              {"mean", transform.mean},
              {"std", transform.std},
              {"pad", transform.pad}}}};
}

std::string FeatureRequest::key() const
{
    Hasher h;
    h.text(describe().dump());
    return h.hex();
}

FeatureCache::FeatureCache(std::string folder) : m_folder(folder.empty() ? defaultFolder() : std::move(folder)) {}

std::optional<Features> FeatureCache::load(const FeatureRequest &request) const
{
    if (m_folder.empty())
        return std::nullopt;
    const fs::path file = fs::path(m_folder) / (request.key() + ".pt");
    std::error_code ec;
    if (!fs::exists(file, ec))
        return std::nullopt;
    try {
        std::vector<torch::Tensor> t;
        torch::load(t, file.string());
        if (t.size() != 2 || t[0].dim() != 2 || t[1].dim() != 1 || t[0].size(0) != t[1].size(0) ||
            t[0].scalar_type() != torch::kFloat32 || t[1].scalar_type() != torch::kLong)
            throw std::runtime_error("not a (features, labels) pair");
        return Features{t[0], t[1]};
    } catch (const std::exception &x) {
        spdlog::warn("{}: a damaged feature cache entry ({}); extracting again", file.string(),
                     std::string(x.what()).substr(0, std::string(x.what()).find('\n')));
        return std::nullopt;
    }
}

void FeatureCache::store(const FeatureRequest &request, const Features &features) const
{
    if (m_folder.empty())
        return;
    const fs::path dir(m_folder);
    const std::string key = request.key();
    try {
        fs::create_directories(dir);
        const std::string tmp = (dir / (key + ".pt.tmp" + std::to_string(::getpid()))).string();
        torch::save(std::vector<torch::Tensor>{features.x.contiguous(), features.labels.contiguous()}, tmp);
        fs::rename(tmp, dir / (key + ".pt"));
        json about = request.describe();
        about["images"] = features.x.size(0);
        about["feature_dim"] = features.x.size(1);
        std::ofstream(dir / (key + ".json")) << about.dump(2) << "\n";
    } catch (const std::exception &x) {
        spdlog::warn("{}: features not cached ({})", m_folder, x.what());
    }
}

} // namespace vitscope::train
