#include "trainer/sweep.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <tuple>
#include <sstream>

#include "models/runtime/device.h"
#include "models/error.h"
#include "models/checkpoints/hf_folder.h"
#include "models/json_io.h"
#include "trainer/evaluation.h"
#include "trainer/data/processor_transform.h"
#include "trainer/data/transforms.h"
#include "trainer/resume.h"

namespace vitscope::train {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<SweepPoint> sweepPoints(const std::string &kind, const MaeTrainOptions &base,
                                    const std::vector<double> &ratios)
{
    std::vector<SweepPoint> pts;
    auto point = [&](const std::string &name, auto edit) {
        SweepPoint p{name, base};
        edit(p.options);
        pts.push_back(p);
    };
    char buf[32];
    if (kind == "mask-strategy") {
        point("random-0.75", [](MaeTrainOptions &o) { o.maskStrategy = "random", o.maskRatio = 0.75; });
        point("block-0.50", [](MaeTrainOptions &o) { o.maskStrategy = "block", o.maskRatio = 0.5; });
        point("block-0.75", [](MaeTrainOptions &o) { o.maskStrategy = "block", o.maskRatio = 0.75; });
        point("grid-0.75", [](MaeTrainOptions &o) { o.maskStrategy = "grid", o.maskRatio = 0.75, o.gridCell = 2; });
    } else if (kind == "mask-ratio") {
        for (double r : ratios) {
            if (!(r > 0 && r <= 0.95))
                throw Error("mask ratios must lie in (0, 0.95], got " + std::to_string(r));
            std::snprintf(buf, sizeof buf, "random-%.2f", r);
            point(buf, [r](MaeTrainOptions &o) { o.maskStrategy = "random", o.maskRatio = r; });
        }
    } else if (kind == "mask-tokens") {
        point("encoder-visible-only", [](MaeTrainOptions &o) { o.maskTokensInEncoder = false; });
        point("encoder-with-mask-tokens", [](MaeTrainOptions &o) { o.maskTokensInEncoder = true; });
    } else if (kind == "norm-pix") {
        point("norm-pix-on", [](MaeTrainOptions &o) { o.normPixLoss = true; });
        point("norm-pix-off", [](MaeTrainOptions &o) { o.normPixLoss = false; });
    } else {
        throw Error("unknown sweep '" + kind + "': expected mask-strategy, mask-ratio, mask-tokens or norm-pix");
    }
    return pts;
}

std::string sweepCsvHeader()
{
    return "sweep,name,mask_strategy,mask_ratio,mask_tokens_in_encoder,norm_pix_loss,epochs,batch,train_images,"
           "final_loss,linear_probe_top1,knn_top1,train_images_per_s,train_seconds,probe_images,linear_probe_mean_top1";
}

json runSweep(const std::string &kind, const std::vector<SweepPoint> &points, const SweepOptions &so,
              const std::function<void(const std::string &, const TrainCallbacks &)> &announce,
              const TrainCallbacks &cb)
{
    fs::create_directories(so.outDir);
    json rows = json::array();
    std::ostringstream csv;
    csv << sweepCsvHeader() << "\n";
    // The points share their data: each (data, split, limit) is opened (decoded) once.
    std::map<std::tuple<std::string, int, int64_t>, std::shared_ptr<data::SampleSource>> sources;
    auto source = [&](const std::string &spec, data::Split split, int64_t limit) {
        auto &s = sources[{spec, int(split), limit}];
        if (!s)
            s = data::openSource(spec, split, limit);
        return s;
    };
    for (const auto &p : points) {
        const std::string runDir = (fs::path(so.outDir) / p.name).string();
        if (announce)
            announce(p.name, cb);
        TrainResult r;
        if (fs::exists(fs::path(runDir) / "model" / "model.safetensors"))
            r.modelDir = (fs::path(runDir) / "model").string(); // finished earlier: reuse
        else
            r = fs::exists(fs::path(runDir) / "config.json") ? resumeRun(runDir, cb) : trainMae(p.options, runDir, cb);
        if (r.status == RunStatus::Stopped)
            throw Error("sweep stopped during " + p.name + "; run it again to continue");
        // Loss, throughput and time from the run's own records (also for a reused run).
        double loss = r.lastLoss, ips = 0, secs = 0;
        int64_t trainImages = 0;
        {
            std::ifstream in((fs::path(runDir) / "metrics.jsonl").string());
            std::string line;
            std::vector<double> rates;
            while (std::getline(in, line)) {
                const auto j = json::parse(line, nullptr, false);
                if (j.is_discarded())
                    continue;
                if (j["type"] == "epoch")
                    loss = j["loss"];
                if (j["type"] == "step") {
                    rates.push_back(j.value("images_per_s", 0.0));
                    secs = std::max(secs, j.value("elapsed_s", 0.0));
                }
            }
            if (rates.size() > 1) { // the first window includes start-up
                std::sort(rates.begin() + 1, rates.end());
                ips = rates[1 + (rates.size() - 1) / 2];
            } else if (!rates.empty()) {
                ips = rates[0];
            }
        }
        LoadedMae m = loadMae(r.modelDir, parseDevice(p.options.device));
        const auto t = data::transformForProcessor(m.processor, m.model->config.numChannels);
        const auto trainSet = source(p.options.data, data::Split::Train, so.probeLimit);
        const auto testSet = source(p.options.data, data::Split::Test, so.probeLimit);
        // Images the run trained on (the probe's train set is limited separately).
        trainImages = source(p.options.data, data::Split::Train, p.options.limit)->size();
        // One pass gives both probes' features: the class token (the paper's linear probe)
        // and the mean of the patch tokens, side by side.
        const int64_t D = m.model->config.hiddenSize;
        auto encode = [&](const torch::Tensor &x) {
            auto tokens = m.model->encodeAll(x);
            return torch::cat({tokens.select(1, 0), tokens.slice(1, 1).mean(1)}, 1);
        };
        const auto dev = parseDevice(p.options.device);
        const auto trBoth = extractFeatures(encode, *trainSet, t, dev), teBoth = extractFeatures(encode, *testSet, t, dev);
        auto half = [&](const Features &f, int64_t part) {
            return Features{f.x.narrow(1, part * D, D).contiguous(), f.labels};
        };
        const auto tr = half(trBoth, 0), te = half(teBoth, 0);
        const int64_t classes = int64_t(trainSet->classNames().size());
        const double probe = linearProbe(tr, te, classes).accuracy;
        const double probeMean = linearProbe(half(trBoth, 1), half(teBoth, 1), classes).accuracy;
        const double knn = knnAccuracy(tr, te, classes);
        const auto &o = p.options;
        json row{{"sweep", kind},
                 {"name", p.name},
                 {"mask_strategy", o.maskStrategy},
                 {"mask_ratio", o.maskRatio},
                 {"mask_tokens_in_encoder", o.maskTokensInEncoder},
                 {"norm_pix_loss", o.normPixLoss},
                 {"epochs", o.epochs},
                 {"batch", o.batch},
                 {"train_images", trainImages},
                 {"final_loss", loss},
                 {"linear_probe_top1", probe},
                 {"knn_top1", knn},
                 {"train_images_per_s", ips},
                 {"train_seconds", secs},
                 {"probe_images", te.x.size(0)},
                 {"linear_probe_mean_top1", probeMean},
                 {"run", runDir}};
        rows.push_back(row);
        csv << kind << ',' << p.name << ',' << o.maskStrategy << ',' << o.maskRatio << ','
            << (o.maskTokensInEncoder ? "true" : "false") << ',' << (o.normPixLoss ? "true" : "false") << ','
            << o.epochs << ',' << o.batch << ',' << trainImages << ',' << loss << ',' << probe << ',' << knn << ','
            << ips << ',' << secs << ',' << te.x.size(0) << ',' << probeMean << "\n";
        // Written after every point, so a long sweep shows its progress.
        writeJsonFile((fs::path(so.outDir) / "results.json").string(), rows);
        std::ofstream((fs::path(so.outDir) / "results.csv").string(), std::ios::trunc) << csv.str();
    }
    return rows;
}

} // namespace vitscope::train
