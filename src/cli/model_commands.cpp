// Model files: where a model came from (info), format conversion, and load benchmarks.
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include "models/checkpoints/model_source.h"
#include "models/error.h"
#include "models/checkpoints/hf_folder.h"
#include "models/runtime/data_files.h"
#include "src/cli/commands.h"

namespace fs = std::filesystem;

namespace vitscope::cli {

using nlohmann::json;

json originJson(const ModelOrigin &o)
{
    json settings = json::array();
    for (const auto &s : o.settings)
        settings.push_back({{"setting", s.name}, {"value", s.value}, {"from", s.source}});
    json j = {{"path", o.path},
              {"format", o.format},
              {"config_from", o.configSource},
              {"preprocessing_from", o.processorSource},
              {"inferred", settings},
              {"notes", o.notes}};
    if (!o.tokenizerSource.empty())
        j["tokenizer_from"] = o.tokenizerSource;
    return j;
}

namespace {

// Peak resident memory of this process (VmHWM) and its current size (VmRSS), in bytes.
std::pair<int64_t, int64_t> memoryOfProcess()
{
    std::ifstream in("/proc/self/status");
    std::string line;
    int64_t hwm = -1, rss = -1;
    while (std::getline(in, line)) {
        auto kb = [&](const char *key) -> int64_t {
            return line.rfind(key, 0) == 0 ? std::stoll(line.substr(std::strlen(key))) * 1024 : -1;
        };
        if (int64_t v = kb("VmHWM:"); v >= 0)
            hwm = v;
        if (int64_t v = kb("VmRSS:"); v >= 0)
            rss = v;
    }
    return {hwm, rss};
}

int64_t tensorBytes(torch::nn::Module &m)
{
    int64_t n = 0;
    for (const auto &p : m.parameters())
        n += p.numel() * int64_t(p.element_size());
    for (const auto &b : m.buffers())
        n += b.numel() * int64_t(b.element_size());
    return n;
}

} // namespace

int convertCommand(Args &args)
{
    const auto pos = args.positionals();
    const std::string deviceSpec = args.value("device", "cpu");
    (void)deviceSpec;
    args.finish();
    if (pos.size() != 2)
        throw UsageError("convert takes SRC and DST: vitscope-cli convert ViT-B-32.pt clip-vit-b32/");
    const std::string src = resolveModelArg(pos[0]);
    const std::string dst = pos[1];
    if (fs::exists(dst) && !fs::is_directory(dst))
        throw FileError(dst, "exists and is not a folder");
    if (fs::exists(fs::path(dst) / "config.json"))
        throw FileError(dst, "already holds a model (config.json): choose an empty or new folder");
    const std::string type = modelTypeOf(src);
    json out = {{"source", src}, {"destination", dst}, {"type", type}};
    if (type == "vit_mae") {
        LoadedMae m = loadMae(src);
        if (!m.hasDecoder)
            throw FileError(src, "encoder-only MAE weights: a Hugging Face vit_mae folder needs the decoder "
                                 "(ViTMAEForPreTraining); convert the release with the decoder");
        saveMaeFolder(m.model, m.processor, dst);
        out["from"] = originJson(m.origin);
    } else {
        LoadedClip c = loadClip(src);
        saveClipFolder(c.model, *c.tokenizer, c.processor, dst);
        out["from"] = originJson(c.origin);
    }
    std::cout << out.dump(2) << std::endl;
    return 0;
}

// Load time and peak memory of one model load, in this fresh process.
int benchLoadCommand(Args &args)
{
    const std::string path = resolveModelArg(args.required("model"));
    args.finish();
    const auto [hwmBefore, rssBefore] = memoryOfProcess();
    const auto t0 = std::chrono::steady_clock::now();
    const std::string type = modelTypeOf(path);
    int64_t bytes = 0;
    std::string format;
    if (type == "vit_mae") {
        LoadedMae m = loadMae(path);
        bytes = tensorBytes(*m.model);
        format = m.origin.format;
    } else {
        LoadedClip c = loadClip(path);
        bytes = tensorBytes(*c.model);
        format = c.origin.format;
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto [hwmAfter, rssAfter] = memoryOfProcess();
    const int64_t growth = hwmAfter - rssBefore;
    std::cout << json{{"bench", "load"},
                      {"model", path},
                      {"format", format},
                      {"type", type},
                      {"seconds", seconds},
                      {"weights_bytes", bytes},
                      {"rss_before_bytes", rssBefore},
                      {"peak_rss_bytes", hwmAfter},
                      {"peak_growth_bytes", growth},
                      {"peak_growth_over_weights", bytes > 0 ? double(growth) / double(bytes) : 0.0}}
                     .dump(2)
              << std::endl;
    (void)hwmBefore;
    (void)rssAfter;
    return 0;
}

} // namespace vitscope::cli
