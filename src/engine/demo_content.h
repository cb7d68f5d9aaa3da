#pragma once
// What the app shows a real model out of the box: the demo photos that ship with it
// (resources/photos, each with its source and licence), class-name presets for the
// Zero-shot view, and which of these suit a model. Plain C++: the GUI includes it.

#include <string>
#include <vector>

namespace vitscope::engine {

struct ModelInfo;

struct DemoPhoto {
    std::string path;    // absolute
    std::string label;   // a class name that fits it ("cat", "rocket")
    std::string title;   // "Chelsea the cat"
    std::string licence; // "CC0", "public domain", "CC BY 2.0"
    std::string source;  // the Debian package and file it was made from
    bool colour = true;
};

// The folder of the demo photos; empty when they are not installed.
std::string demoPhotosDir();
// resources/photos/photos.json, in its order. Empty when not installed; a FileError
// naming the file when it is there but unreadable.
std::vector<DemoPhoto> demoPhotos();

struct ClassPreset {
    std::string name; // "CIFAR-10", shown in the chooser
    std::vector<std::string> classes;
};
// Fashion-MNIST's ten, CIFAR-10's ten, animals, vehicles, and the demo photos' labels.
std::vector<ClassPreset> classPresets();

// True for a model trained on Fashion-MNIST's 28 x 28 grey images (the bundled ones, or
// anything with one input channel below 96 pixels); false for a model that takes colour
// photos of 96 pixels or more, which the views open on natural photos and photo prompts.
bool fashionMnistModel(const ModelInfo &info);
// Colour input of 96 pixels or more: the explorer and Inside open on the demo photos.
bool takesNaturalPhotos(const ModelInfo &info);

} // namespace vitscope::engine
