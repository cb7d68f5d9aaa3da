// Looking inside the models from the command line: attention maps and rollout, the
// embedding map, and the robustness-under-shift experiment.

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/checkpoints/model_source.h"
#include "models/runtime/device.h"
#include "models/error.h"
#include "models/checkpoints/hf_folder.h"
#include "models/image_preprocess.h"
#include "models/inspect.h"
#include "models/runtime/data_files.h"
#include "models/checkpoints/safetensors.h"
#include "models/zero_shot.h"
#include "src/cli/commands.h"
#include "trainer/clip_trainer.h"
#include "trainer/evaluation.h"
#include "trainer/data/heatmap.h"
#include "trainer/data/images.h"
#include "trainer/data/plots.h"
#include "trainer/data/processor_transform.h"
#include "trainer/data/shift.h"
#include "trainer/data/sources.h"

namespace vitscope::cli {

using nlohmann::json;

namespace {

std::vector<float> toVector(const torch::Tensor &t)
{
    auto c = t.to(torch::kCPU, torch::kFloat32).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// A folder of images without class subfolders (no labels).
class FileListSource : public data::SampleSource {
public:
    FileListSource(std::string root, std::vector<std::string> files) : m_root(std::move(root)), m_files(std::move(files)) {}
    int64_t size() const override { return int64_t(m_files.size()); }
    torch::Tensor image(int64_t i) const override { return data::rgbToTensor(data::loadImageRgb(m_files[size_t(i)])); }
    std::string describe() const override { return m_root; }
    const std::string &path(int64_t i) const { return m_files[size_t(i)]; }

private:
    std::string m_root;
    std::vector<std::string> m_files;
};

bool hasSubfolders(const std::string &dir)
{
    std::error_code ec;
    for (const auto &e : std::filesystem::directory_iterator(dir, ec))
        if (e.is_directory())
            return true;
    return false;
}

// Class names for CLIP's text side: --labels, else the data's class names (Fashion-MNIST's
// first synonyms), with the held-out caption templates.
struct ClassPrompts {
    std::vector<std::string> labels;
    std::vector<std::string> templates;
};

ClassPrompts classPrompts(const std::optional<std::string> &labelsArg, const std::vector<std::string> &classNames,
                          bool fashionMnist)
{
    ClassPrompts p;
    const auto captions = fashionMnist ? train::fashionMnistCaptions() : train::classNameCaptions(classNames);
    if (labelsArg)
        p.labels = parseClassNames(*labelsArg);
    else if (fashionMnist || !classNames.empty())
        for (const auto &syns : captions.synonyms)
            p.labels.push_back(syns.front());
    p.templates = captions.heldOutTemplates;
    return p;
}

bool isFashionMnist(const std::string &spec)
{
    return spec == "fashion-mnist" || spec.rfind("fashion-mnist:", 0) == 0;
}

} // namespace

int attentionCommand(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    const std::string imagePath = args.required("image");
    const std::string outPath = args.required("out");
    const double ratioArg = args.number("ratio", std::nan(""));
    const auto seed = args.integer("seed", 0);
    const std::string strategy = args.value("mask", "random");
    const auto tensorsPath = args.value("save-tensors");
    const torch::Device device = parseDevice(args.value("device", "cpu"));
    args.finish();
    if (seed < 0)
        throw UsageError("--seed must be >= 0");
    const std::string type = modelTypeOf(dir);
    const auto image = data::loadImageRgb(imagePath);

    EncoderAttention a;
    data::RgbImage input;
    json out = {{"model", dir}, {"image", imagePath}};
    if (type == "vit_mae") {
        LoadedMae loaded = loadMae(dir, device);
        const auto &c = loaded.model->config;
        MaskSpec spec;
        spec.strategy = parseMaskStrategy(strategy);
        spec.ratio = std::isnan(ratioArg) ? c.maskRatio : ratioArg;
        spec.seed = uint64_t(seed);
        const Masking masking = makeMasking(spec, 1, c.gridSize(), c.gridSize(), device);
        auto x = preprocessImage(data::rgbToTensor(image), loaded.processor, c.numChannels).unsqueeze(0).to(device);
        a = maeEncoderAttention(loaded.model, x, masking);
        input = data::normalizedToRgb(x[0], loaded.processor.imageMean, loaded.processor.imageStd);
        out["kind"] = "mae";
        out["tower"] = "encoder";
        out["strategy"] = maskStrategyName(spec.strategy);
        out["ratio_requested"] = spec.ratio;
        out["removed"] = masking.length() - masking.keepCount;
    } else if (type == "clip") {
        if (!std::isnan(ratioArg))
            throw UsageError("--ratio applies to MAE models; CLIP's image tower sees every patch");
        LoadedClip loaded = loadClip(dir, device);
        const int64_t C = loaded.model->config.vision.numChannels;
        auto x = preprocessImage(data::rgbToTensor(image), loaded.processor, C).unsqueeze(0).to(device);
        a = clipImageAttention(loaded.model, x);
        input = data::normalizedToRgb(x[0], loaded.processor.imageMean, loaded.processor.imageStd);
        out["kind"] = "clip";
        out["tower"] = "image";
    } else {
        throw FileError(dir + "/config.json", "model_type \"" + type + "\" is not supported (vit_mae, clip)");
    }
    const int64_t layers = a.attention.size(0), heads = a.attention.size(1), T = a.attention.size(2);
    const auto rollout = attentionRollout(a.attention);
    const int grid = int(a.grid);
    const int scale = std::max(1, 224 / std::max(1, input.width));
    auto panel = [&](const torch::Tensor &row, double alpha = 0.6) {
        return data::scaleNearest(data::overlayHeatmap(input, toVector(tokensToGrid(a, row)), grid, alpha), scale);
    };
    // The input as the encoder saw it: patches without a token hatched.
    std::vector<data::RgbImage> panels = {panel(torch::zeros({T}), 0.0),
                                          panel(a.attention[layers - 1].mean(0)[0]), panel(rollout[0])};
    std::vector<std::string> names = {"input (hatched: no token)", "class token attention, last layer, mean of heads",
                                      "rollout from the class token"};
    for (int64_t l = 0; l < layers; ++l) {
        panels.push_back(panel(a.attention[l].mean(0)[0]));
        names.push_back("class token attention, layer " + std::to_string(l + 1) + ", mean of heads");
    }
    data::saveImageRgb(outPath, data::hconcat(panels, 4 * scale));

    if (tensorsPath)
        writeSafetensors(*tensorsPath,
                         {{"attention", a.attention.contiguous()}, {"rollout", rollout.contiguous()}, {"patches", a.patches}},
                         {{"model", dir}, {"image", imagePath}, {"tokens", "class token first, then patches in raster order"}});
    // The patches the class token's rollout weighs most.
    auto weights = rollout[0].slice(0, 1);
    auto top = std::get<1>(weights.topk(std::min<int64_t>(5, weights.size(0))));
    std::vector<int64_t> topPatches;
    for (int64_t i = 0; i < top.size(0); ++i)
        topPatches.push_back(a.patches[top[i].item<int64_t>()].item<int64_t>());
    out["layers"] = layers;
    out["heads"] = heads;
    out["tokens"] = T;
    out["grid"] = a.grid;
    out["patches_with_tokens"] = T - 1;
    out["rollout"] = "Abnar and Zuidema 2020: per layer (mean over heads + identity) / 2, rows renormalized, multiplied";
    out["rollout_top_patches"] = topPatches;
    out["panels"] = names;
    out["out"] = outPath;
    if (tensorsPath)
        out["tensors"] = *tensorsPath;
    std::cout << out.dump(2) << std::endl;
    return 0;
}

namespace {

// The images of a map: a folder of class subfolders or a dataset through data::openSource,
// or a flat folder of images (its first `limit` files, kept in `files`).
std::shared_ptr<const data::SampleSource> openMapSource(const std::optional<std::string> &folder,
                                                        const std::string &spec, const std::string &splitName,
                                                        int64_t limit, std::shared_ptr<const FileListSource> &files)
{
    if (folder && !hasSubfolders(*folder)) {
        auto list = data::listImageFiles(*folder, false);
        if (int64_t(list.size()) > limit)
            list.resize(size_t(limit));
        if (list.size() < 2)
            throw FileError(*folder, "needs at least two images for a map");
        files = std::make_shared<FileListSource>(*folder, list);
        return files;
    }
    return data::openSource(spec, splitName == "train" ? data::Split::Train : data::Split::Test, limit);
}

// One row per point: the N images first, then the text points (labels), with the PCA
// coordinates.
void writeMapCsv(const std::string &csvPath, int64_t N, const std::vector<std::string> &labels,
                 const FileListSource *files, const std::vector<int64_t> &trueLabel,
                 const std::vector<int64_t> &predicted, const torch::Tensor &coords)
{
    std::ofstream csv(csvPath);
    if (!csv)
        throw FileError(csvPath, "cannot write");
    csv << "kind,index,path,label,predicted,x,y\n";
    for (int64_t i = 0; i < coords.size(0); ++i) {
        const bool text = i >= N;
        std::string path = text ? labels[size_t(i - N)] : (files ? files->path(i) : std::to_string(i));
        std::replace(path.begin(), path.end(), ',', ' ');
        csv << (text ? "text" : "image") << ',' << (text ? i - N : i) << ',' << path << ','
            << (text ? i - N : trueLabel[size_t(i)]) << ',' << (text ? i - N : predicted[size_t(i)]) << ','
            << coords[i][0].item<float>() << ',' << coords[i][1].item<float>() << '\n';
    }
    if (!csv)
        throw FileError(csvPath, "write failed");
}

} // namespace

int embedMapCommand(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    const auto folder = args.value("folder");
    const auto dataArg = args.value("data");
    const std::string outPath = args.required("out");
    const auto csvPath = args.value("csv");
    const auto labelsArg = args.value("labels");
    const int64_t limit = args.integer("limit", 1000);
    const std::string splitName = args.value("split", "test");
    const std::string colorBy = args.value("color", "true");
    const std::string pool = args.value("pool", "cls");
    const torch::Device device = parseDevice(args.value("device", "auto"));
    args.finish();
    if (folder.has_value() == dataArg.has_value())
        throw UsageError("give one of --folder DIR or --data fashion-mnist|DIR");
    if (colorBy != "true" && colorBy != "predicted")
        throw UsageError("--color must be true or predicted");
    if (splitName != "test" && splitName != "train")
        throw UsageError("--split must be test or train");
    if (pool != "cls" && pool != "mean")
        throw UsageError("--pool must be cls or mean");
    if (limit < 2)
        throw UsageError("--limit must be at least 2");

    std::shared_ptr<const FileListSource> files; // a flat folder (its paths go to the CSV)
    const std::string spec = folder ? *folder : *dataArg;
    const auto source = openMapSource(folder, spec, splitName, limit, files);
    const auto &classNames = source->classNames();
    const std::string type = modelTypeOf(dir);
    std::vector<std::string> labels;
    torch::Tensor images, texts; // (N, D), (K, D)
    json out = {{"model", dir}, {"data", source->describe()}};
    if (type == "clip") {
        if (pool != "cls")
            throw UsageError("--pool applies to MAE models");
        LoadedClip clip = loadClip(dir, device);
        const auto transform = data::transformForProcessor(clip.processor, clip.model->config.vision.numChannels);
        auto f = train::extractFeatures([&](const torch::Tensor &x) { return clip.model->imageFeatures(x); }, *source,
                                        transform, device, 0, 256, progressPrinter("images"));
        namespace F = torch::nn::functional;
        images = F::normalize(f.x, F::NormalizeFuncOptions().dim(1));
        const auto prompts = classPrompts(labelsArg, classNames, isFashionMnist(spec));
        labels = prompts.labels;
        if (!labels.empty()) {
            ZeroShotClassifier classifier(clip.model, clip.tokenizer, "embed-map");
            texts = classifier.classEmbeddings(labels, prompts.templates, true).to(torch::kCPU, torch::kFloat32);
        }
        out["kind"] = "clip";
        out["features"] = "image embeddings (L2-normalized) and class text embeddings (prompt ensembles), one PCA";
    } else if (type == "vit_mae") {
        LoadedMae mae = loadMae(dir, device);
        const auto transform = data::transformForProcessor(mae.processor, mae.model->config.numChannels);
        auto encode = [&](const torch::Tensor &x) {
            auto tokens = mae.model->encodeAll(x);
            return pool == "mean" ? tokens.slice(1, 1).mean(1) : tokens.select(1, 0);
        };
        images = train::extractFeatures(encode, *source, transform, device, 0, 256, progressPrinter("images")).x;
        labels = classNames;
        if (colorBy == "predicted")
            throw UsageError("--color predicted needs a CLIP model (MAE features have no classifier)");
        out["kind"] = "mae";
        out["features"] = pool == "mean" ? "encoder: mean of the patch tokens" : "encoder: class token";
    } else {
        throw FileError(dir + "/config.json", "model_type \"" + type + "\" is not supported (vit_mae, clip)");
    }
    const int64_t N = images.size(0), K = texts.defined() ? texts.size(0) : 0;
    const auto pca = fitPca(K > 0 ? torch::cat({images, texts}) : images, 2);
    std::vector<int64_t> trueLabel(size_t(N), -1), predicted(size_t(N), -1);
    for (int64_t i = 0; i < N; ++i)
        trueLabel[size_t(i)] = source->label(i);
    if (K > 0) {
        auto pred = torch::matmul(images, texts.t()).argmax(1);
        for (int64_t i = 0; i < N; ++i)
            predicted[size_t(i)] = pred[i].item<int64_t>();
    }
    const auto &colour = colorBy == "predicted" ? predicted : trueLabel;
    std::vector<data::ScatterPoint> points;
    for (int64_t i = 0; i < N + K; ++i) {
        data::ScatterPoint p;
        p.x = pca.coords[i][0].item<double>(), p.y = pca.coords[i][1].item<double>();
        p.text = i >= N;
        p.colorIndex = p.text ? int(i - N) : int(colour[size_t(i)]);
        if (p.text)
            p.label = labels[size_t(i - N)];
        points.push_back(p);
    }
    const double explained1 = pca.variance[0].item<double>() / pca.totalVariance;
    const double explained2 = pca.variance[1].item<double>() / pca.totalVariance;
    char axis[64];
    std::snprintf(axis, sizeof axis, "PC1 (%.0f%% of the variance)", 100 * explained1);
    std::string xLabel = axis;
    std::snprintf(axis, sizeof axis, "PC2 (%.0f%%)", 100 * explained2);
    const std::vector<std::string> legend = labels.empty() ? classNames : labels;
    data::saveImageRgb(outPath, data::scatterPlot(points, std::string(out["kind"]) == "clip"
                                                               ? "CLIP image and text embeddings (PCA)"
                                                               : "MAE encoder features (PCA)",
                                                  xLabel, axis, legend));
    if (csvPath) {
        writeMapCsv(*csvPath, N, labels, files.get(), trueLabel, predicted, pca.coords);
        out["csv"] = *csvPath;
    }
    out["images"] = N;
    out["text_points"] = K;
    out["labels"] = labels;
    out["color"] = colorBy;
    out["explained_variance"] = {explained1, explained2};
    if (K > 0) {
        // The modality gap (Liang et al. 2022): the distance between the centres of the two
        // clouds of unit vectors, and how much of PC1 separates them.
        auto gap = (images.mean(0) - texts.mean(0)).norm().item<double>();
        out["modality_gap"] = gap;
        out["mean_pc1_images"] = pca.coords.slice(0, 0, N).select(1, 0).mean().item<double>();
        out["mean_pc1_texts"] = pca.coords.slice(0, N).select(1, 0).mean().item<double>();
        if (!classNames.empty())
            out["zero_shot_accuracy"] =
                torch::tensor(predicted).eq(torch::tensor(trueLabel)).to(torch::kFloat64).mean().item<double>();
    }
    out["out"] = outPath;
    std::cout << out.dump(2) << std::endl;
    return 0;
}

int evalShiftCommand(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    const std::string dataSpec = args.value("data", "fashion-mnist");
    const int64_t limit = args.integer("limit", 10000);
    const int64_t testLimit = args.integer("test-limit", 2000);
    const auto labelsArg = args.value("labels");
    const auto shiftsArg = args.value("shifts");
    const auto seed = uint64_t(args.integer("seed", 0));
    const auto csvPath = args.value("csv");
    const auto chartPath = args.value("out");
    const torch::Device device = parseDevice(args.value("device", "auto"));
    args.finish();
    std::vector<data::Shift> shifts;
    if (shiftsArg) {
        for (const auto &name : parseClassNames(*shiftsArg))
            shifts.push_back(data::parseShift(name));
        if (std::find(shifts.begin(), shifts.end(), data::Shift::None) == shifts.end())
            shifts.insert(shifts.begin(), data::Shift::None); // the reference point
    } else {
        shifts = data::allShifts();
    }
    if (modelTypeOf(dir) != "clip")
        throw UsageError("eval shift compares zero-shot CLIP with a linear probe: --model must be a CLIP model");
    auto trainSet = data::openSource(dataSpec, data::Split::Train, limit);
    std::shared_ptr<const data::SampleSource> testSet = data::openSource(dataSpec, data::Split::Test, testLimit);
    if (trainSet->classNames().empty())
        throw UsageError("--data must have classes (fashion-mnist or a folder of class subfolders)");
    const auto prompts = classPrompts(labelsArg, trainSet->classNames(), isFashionMnist(dataSpec));
    if (prompts.labels.size() != trainSet->classNames().size())
        throw UsageError("--labels gives " + std::to_string(prompts.labels.size()) + " names for " +
                         std::to_string(trainSet->classNames().size()) + " classes");

    LoadedClip clip = loadClip(dir, device);
    const auto transform = data::transformForProcessor(clip.processor, clip.model->config.vision.numChannels);
    auto encode = [&](const torch::Tensor &x) { return clip.model->imageFeatures(x); };
    ZeroShotClassifier classifier(clip.model, clip.tokenizer, "eval-shift");
    const auto classes = classifier.classEmbeddings(prompts.labels, prompts.templates, true);
    const auto trainF = train::extractFeatures(encode, *trainSet, transform, device, 0, 256, progressPrinter("features (train)"));
    const int64_t K = int64_t(prompts.labels.size());
    std::optional<train::LinearProbeResult> probe;
    json rows = json::array();
    double zsNone = 0, lpNone = 0;
    for (data::Shift s : shifts) {
        auto shifted = data::shiftedSource(testSet, s, seed);
        const auto f = train::extractFeatures(encode, *shifted, transform, device, 0, 256,
                                              progressPrinter("features (" + data::shiftName(s) + ")"));
        if (!probe) // fitted once, on the unshifted training features (none comes first)
            probe = train::linearProbe(trainF, f, K);
        const auto probs = classifier.probabilities(f.x.to(classes.device()), classes).cpu();
        const double zs = probs.argmax(1).eq(f.labels).to(torch::kFloat64).mean().item<double>();
        const double lp = probe->accuracyOn(f);
        if (s == data::Shift::None)
            zsNone = zs, lpNone = lp;
        rows.push_back({{"shift", data::shiftName(s)},
                        {"description", data::shiftDescription(s)},
                        {"zero_shot", zs},
                        {"linear_probe", lp}});
    }
    for (auto &r : rows) {
        r["zero_shot_kept"] = zsNone > 0 ? double(r["zero_shot"]) / zsNone : 0.0;
        r["linear_probe_kept"] = lpNone > 0 ? double(r["linear_probe"]) / lpNone : 0.0;
    }
    if (csvPath) {
        std::ofstream csv(*csvPath);
        if (!csv)
            throw FileError(*csvPath, "cannot write");
        csv << "shift,zero_shot,linear_probe,zero_shot_kept,linear_probe_kept\n";
        for (const auto &r : rows)
            csv << std::string(r["shift"]) << ',' << double(r["zero_shot"]) << ',' << double(r["linear_probe"]) << ','
                << double(r["zero_shot_kept"]) << ',' << double(r["linear_probe_kept"]) << '\n';
        if (!csv)
            throw FileError(*csvPath, "write failed");
    }
    if (chartPath) {
        std::vector<data::BarGroup> groups;
        for (const auto &r : rows)
            groups.push_back({std::string(r["shift"]), {double(r["zero_shot"]), double(r["linear_probe"])}});
        data::saveImageRgb(*chartPath, data::barChart(groups, {"zero-shot CLIP", "linear probe (unshifted training)"},
                                                      "Accuracy under distribution shift"));
    }
    json out = {{"protocol", "shift"},
                {"model", dir},
                {"data", dataSpec},
                {"train_images", trainSet->size()},
                {"test_images", testSet->size()},
                {"labels", prompts.labels},
                {"templates", prompts.templates},
                {"probe_weight_decay", probe->weightDecay},
                {"seed", seed},
                {"shifts", rows}};
    if (csvPath)
        out["csv"] = *csvPath;
    if (chartPath)
        out["out"] = *chartPath;
    std::cout << out.dump(2) << std::endl;
    return 0;
}

} // namespace vitscope::cli
