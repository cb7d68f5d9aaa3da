#include "src/engine/colors.h"

#include "trainer/data/heatmap.h"

namespace vitscope::engine {

Rgb8 heatColor(double t)
{
    return data::heatColor(t);
}

Rgb8 classColor(int index)
{
    return data::classColor(index);
}

} // namespace vitscope::engine
