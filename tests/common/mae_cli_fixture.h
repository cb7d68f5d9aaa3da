#pragma once
// A small MAE model folder and a test image for the tests that run vitscope-cli (tests/cli).
#include <cstdint>
#include <string>

#include "common/temp_dir.h"
#include "models/checkpoints/hf_folder.h"
#include "models/image_preprocess.h"
#include "trainer/data/images.h"

namespace vitscope::test {

// A small MAE folder (Fashion-MNIST geometry: 32 x 32, patch 4, grey) and a test image.
struct MaeFixture {
    vitscope::test::TempDir dir;
    std::string model, image;
    MaeFixture()
    {
        vitscope::MaeConfig c = vitscope::MaeConfig::preset("fmnist");
        c.hiddenSize = 32, c.numHiddenLayers = 1, c.numAttentionHeads = 2, c.intermediateSize = 64;
        c.decoderHiddenSize = 16, c.decoderNumHiddenLayers = 1, c.decoderNumAttentionHeads = 2;
        c.decoderIntermediateSize = 32;
        vitscope::Mae mae(c);
        vitscope::ImageProcessorConfig p;
        p.size = p.cropSize = 32;
        p.imageMean = {0.286f};
        p.imageStd = {0.353f};
        model = dir.file("mae");
        vitscope::saveMaeFolder(mae, p, model);
        vitscope::data::RgbImage img;
        img.width = 40, img.height = 30; // not square: resized and center-cropped
        for (int i = 0; i < img.width * img.height; ++i)
            for (int ch = 0; ch < 3; ++ch)
                img.rgb.push_back(static_cast<std::uint8_t>((i * 7 + ch * 50) % 256));
        image = dir.file("in.png");
        vitscope::data::saveImageRgb(image, img);
    }
};


} // namespace vitscope::test
