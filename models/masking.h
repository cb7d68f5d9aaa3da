#pragma once
// Patch masking for MAE, usable without a model (the GUI draws masks with it).
//
// Strategies (REFERENCE.md, MAE):
//   Random  per sample, noise ~ U(0,1) over the L patches; ids_shuffle = argsort(noise)
//           (small noise = kept); keep = floor(L * (1 - ratio)).
//   Block   BEiT-style: random rectangles of random aspect ratio (0.3 to 1/0.3) are
//           removed until exactly L - keep patches are gone; the last rectangle is cut
//           short in raster order when it would overshoot, so the count is exact.
//   Grid    keep one patch of every k x k cell (k = gridCell, default 2: 75% removed),
//           at one offset per sample (same in every cell): a regular lattice. The
//           ratio is fixed by k (1 - 1/k^2 when k divides the grid); `ratio` is unused.
//   Custom  an explicit list of kept patch indices (the GUI's click-to-toggle), the same
//           for every sample.
// Every strategy is a pure function of (spec, batch, grid): the same seed gives the same
// masks, and samples within a batch get different ones (except Custom).

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace vitscope {

enum class MaskStrategy { Random, Block, Grid, Custom };
MaskStrategy parseMaskStrategy(const std::string &name); // "random", "block", "grid", "custom"
std::string maskStrategyName(MaskStrategy strategy);

struct MaskSpec {
    MaskStrategy strategy = MaskStrategy::Random;
    double ratio = 0.75;             // fraction removed, in [0, 0.95]
    std::uint64_t seed = 0;
    int64_t gridCell = 2;            // Grid: keep 1 of every gridCell x gridCell
    std::vector<int64_t> keep;       // Custom: kept patch indices (row-major)
};

struct Masking {
    torch::Tensor idsShuffle; // (B, L) int64: kept patches first, then removed ones
    torch::Tensor idsRestore; // (B, L) int64: argsort(idsShuffle)
    torch::Tensor idsKeep;    // (B, keep) int64: idsShuffle[:, :keep]
    torch::Tensor mask;       // (B, L) float32: 0 kept, 1 removed, original patch order
    int64_t keepCount = 0;

    int64_t batch() const { return mask.size(0); }
    int64_t length() const { return mask.size(1); }
};

// floor(L * (1 - ratio)), robust to rounding (0.75 of 196 keeps exactly 49).
int64_t keepCountFor(int64_t patchCount, double ratio);

// Builds the masks for `batch` samples over a gridH x gridW patch grid, on `device`.
// Throws vitscope::Error for a ratio outside [0, 0.95], gridCell < 1, or custom indices
// out of range or repeated. The random numbers are drawn on the CPU, so a seed gives the
// same masks on every device.
Masking makeMasking(const MaskSpec &spec, int64_t batch, int64_t gridH, int64_t gridW,
                    torch::Device device = torch::kCPU);

// Builds a Masking from explicit 0/1 masks, (B, L) with 1 = removed; every row must remove
// the same number of patches (the encoder batches the kept ones).
Masking maskingFromMask(const torch::Tensor &mask);

} // namespace vitscope
