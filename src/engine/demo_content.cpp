#include "src/engine/demo_content.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "models/error.h"
#include "models/json_io.h"
#include "models/runtime/data_files.h"
#include "src/engine/sessions.h"

namespace vitscope::engine {

namespace fs = std::filesystem;

std::string demoPhotosDir()
{
    try {
        return fs::path(findDataFile("photos/photos.json")).parent_path().string();
    } catch (const Error &) {
        return {};
    }
}

std::vector<DemoPhoto> demoPhotos()
{
    std::vector<DemoPhoto> out;
    const std::string dir = demoPhotosDir();
    if (dir.empty())
        return out;
    const std::string file = (fs::path(dir) / "photos.json").string();
    const nlohmann::json j = readJsonFile(file);
    try {
        for (const auto &p : j.at("photos")) {
            DemoPhoto d;
            d.path = (fs::path(dir) / p.at("file").get<std::string>()).string();
            d.label = p.at("label").get<std::string>();
            d.title = p.value("title", d.label);
            d.licence = p.value("licence", "");
            d.source = p.value("source", "");
            d.colour = p.value("colour", true);
            out.push_back(d);
        }
    } catch (const nlohmann::json::exception &e) {
        throw FileError(file, std::string("not a photo list: ") + e.what());
    }
    return out;
}

std::vector<ClassPreset> classPresets()
{
    std::vector<ClassPreset> presets{
        {"Fashion-MNIST",
         {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}},
        {"CIFAR-10", {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}},
        {"Animals", {"cat", "dog", "raccoon", "horse", "bird", "fish", "bear", "rabbit", "cow", "elephant"}},
        {"Vehicles", {"car", "bus", "bicycle", "motorcycle", "truck", "train", "airplane", "boat", "rocket", "tractor"}},
    };
    ClassPreset demo{"Demo photos", {}};
    try {
        for (const auto &p : demoPhotos())
            demo.classes.push_back(p.label);
    } catch (const Error &) {
        // an unreadable manifest: the preset is left out, the pickers say why
    }
    if (!demo.classes.empty())
        presets.insert(presets.begin() + 1, demo);
    return presets;
}

bool fashionMnistModel(const ModelInfo &info)
{
    for (const auto &b : bundledModels())
        if (info.name == b)
            return true;
    return info.channels == 1 && info.imageSize < 96;
}

bool takesNaturalPhotos(const ModelInfo &info)
{
    return info.channels == 3 && info.imageSize >= 96;
}

} // namespace vitscope::engine
