#pragma once
// The evaluation transform that matches a model folder's preprocessor_config.json: its
// input size, channel count, mean and std, with Fashion-MNIST's 28 -> 32 zero padding.
#include "models/image_preprocess.h"
#include "trainer/data/transforms.h"

namespace vitscope::data {

inline ImageTransform transformForProcessor(const ImageProcessorConfig &proc, int64_t channels)
{
    ImageTransform t;
    t.size = proc.cropSize;
    t.channels = channels;
    t.mean = proc.imageMean;
    t.std = proc.imageStd;
    t.pad = true;
    return t;
}

} // namespace vitscope::data
