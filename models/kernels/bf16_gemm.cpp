#include "models/kernels/bf16_gemm.h"

#include <cstdint>
#include <cstring>

#include <ATen/Parallel.h>

#include "models/error.h"
#include "models/runtime/machine.h"

#if defined(__x86_64__) && defined(__GNUC__) && (__GNUC__ >= 10 || defined(__clang__))
#include <immintrin.h>
#define VITSCOPE_BF16_KERNEL 1
#else
#define VITSCOPE_BF16_KERNEL 0
#endif

namespace vitscope {

namespace {

constexpr int64_t kBlock = 16; // output rows per block: one 512-bit register of float32 sums
constexpr int64_t kRows = 8;   // rows of x per pass over a block

int64_t blocksOf(int64_t n) { return (n + kBlock - 1) / kBlock; }
int64_t pairsOf(int64_t k) { return (k + 1) / 2; }

#if VITSCOPE_BF16_KERNEL
// R rows of x (bf16, `pairs` pairs each, row stride xStride values) against NB adjacent
// packed blocks (each pairs x 16 x 2 bf16, blockValues apart): y[r][0..16 NB) = sums + bias,
// the last block's outputs cut at `valid`. NB x R independent sums: one vdpbf16ps
// result takes several cycles, so a few sums alone would leave the unit idle.
template <int NB, int R>
__attribute__((target("avx512f,avx512bf16"))) void blockRows(const uint16_t *x, int64_t xStride, int64_t pairs,
                                                              const uint16_t *block, int64_t blockValues,
                                                              const float *bias, float *y, int64_t yStride,
                                                              int valid)
{
    __m512 acc[NB][R];
    for (int j = 0; j < NB; ++j)
        for (int r = 0; r < R; ++r)
            acc[j][r] = _mm512_setzero_ps();
    for (int64_t p = 0; p < pairs; ++p) {
        __m512bh w[NB];
        for (int j = 0; j < NB; ++j)
            w[j] = (__m512bh)_mm512_loadu_si512(block + j * blockValues + p * 2 * kBlock);
        for (int r = 0; r < R; ++r) {
            int32_t both;
            std::memcpy(&both, x + r * xStride + 2 * p, sizeof both);
            const auto xr = (__m512bh)_mm512_set1_epi32(both);
            for (int j = 0; j < NB; ++j)
                acc[j][r] = _mm512_dpbf16_ps(acc[j][r], xr, w[j]);
        }
    }
    for (int j = 0; j < NB; ++j) {
        const int v = j + 1 < NB ? 16 : valid;
        const __mmask16 mask = v >= 16 ? __mmask16(0xffff) : __mmask16((1u << v) - 1);
        const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + j * kBlock) : _mm512_setzero_ps();
        for (int r = 0; r < R; ++r)
            _mm512_mask_storeu_ps(y + r * yStride + j * kBlock, mask, _mm512_add_ps(acc[j][r], b));
    }
}

using BlockRowsFn = void (*)(const uint16_t *, int64_t, int64_t, const uint16_t *, int64_t, const float *, float *,
                             int64_t, int);
template <int NB>
constexpr BlockRowsFn kBlockRows[kRows + 1] = {nullptr,           blockRows<NB, 1>, blockRows<NB, 2>,
                                               blockRows<NB, 3>,  blockRows<NB, 4>, blockRows<NB, 5>,
                                               blockRows<NB, 6>,  blockRows<NB, 7>, blockRows<NB, 8>};
constexpr int64_t kWide = 2; // blocks per pass where two full ones are left: 16 sums at 8 rows
// Rows of x per chunk: 128 rows of 768 bfloat16 features are 192 KB, which stay in a
// core's L2 beside its blocks of weights. A prompt (8 rows) is one chunk.
constexpr int64_t kChunkRows = 128;
#endif

} // namespace

bool bf16KernelAvailable()
{
#if VITSCOPE_BF16_KERNEL
    static const bool has = [] {
        for (const auto &f : cpuInfo().flags)
            if (f == "avx512_bf16")
                return true;
        return false;
    }();
    return has;
#else
    return false;
#endif
}

PackedBf16Weight packBf16Weight(const torch::Tensor &w)
{
    if (w.dim() != 2 || !w.is_cpu() || w.scalar_type() != torch::kFloat32)
        throw Error("bf16 packing expects a 2-D float32 CPU weight");
    torch::NoGradGuard noGrad;
    PackedBf16Weight out;
    out.n = w.size(0), out.k = w.size(1);
    const int64_t blocks = blocksOf(out.n), pairs = pairsOf(out.k);
    // (N, K) -> zero-padded (blocks * 16, pairs * 2) -> (blocks, 16, pairs, 2) -> (blocks, pairs, 16, 2).
    auto padded = torch::zeros({blocks * kBlock, pairs * 2}, torch::kBFloat16);
    padded.slice(0, 0, out.n).slice(1, 0, out.k).copy_(w); // rounds to nearest even
    out.data = padded.view({blocks, kBlock, pairs, 2}).permute({0, 2, 1, 3}).contiguous();
    return out;
}

torch::Tensor unpackBf16Weight(const PackedBf16Weight &w)
{
    const int64_t blocks = blocksOf(w.n), pairs = pairsOf(w.k);
    return w.data.view({blocks, pairs, kBlock, 2})
        .permute({0, 2, 1, 3})
        .reshape({blocks * kBlock, pairs * 2})
        .slice(0, 0, w.n)
        .slice(1, 0, w.k)
        .to(torch::kFloat32);
}

torch::Tensor bf16Linear(const torch::Tensor &x, const PackedBf16Weight &w, const torch::Tensor &b)
{
    if (!bf16KernelAvailable())
        throw Error("the bf16 kernel needs a CPU with AVX512_BF16");
    if (!x.is_cpu() || x.scalar_type() != torch::kFloat32 || x.dim() < 1 || x.size(-1) != w.k)
        throw Error("bf16 product: x must be float32 on the CPU with " + std::to_string(w.k) + " features");
    if (b.defined() && (b.scalar_type() != torch::kFloat32 || b.numel() != w.n || !b.is_cpu()))
        throw Error("bf16 product: the bias must be " + std::to_string(w.n) + " float32 values on the CPU");
#if VITSCOPE_BF16_KERNEL
    const int64_t K = w.k, N = w.n;
    const int64_t pairs = pairsOf(K), blocks = blocksOf(N);
    auto sizes = x.sizes().vec();
    sizes.back() = N;
    int64_t M = 1; // rows: every dimension but the last (K may be 0)
    for (size_t i = 0; i + 1 < sizes.size(); ++i)
        M *= sizes[i];
    auto y = torch::empty(sizes, x.options());
    if (M == 0 || N == 0)
        return y;
    // x rounded to bfloat16 (nearest even, as the weights), an odd K padded with a zero.
    auto x16 = torch::zeros({M, pairs * 2}, torch::kBFloat16);
    x16.slice(1, 0, K).copy_(x.reshape({M, K}));
    const auto bias = b.defined() ? b.contiguous() : torch::Tensor();
    const auto *xp = reinterpret_cast<const uint16_t *>(x16.data_ptr<at::BFloat16>());
    const auto *wp = reinterpret_cast<const uint16_t *>(w.data.data_ptr<at::BFloat16>());
    const float *bp = bias.defined() ? bias.data_ptr<float>() : nullptr;
    float *yp = y.data_ptr<float>();
    const int64_t xStride = pairs * 2, blockValues = pairs * 2 * kBlock;
    // Threads split the blocks of output rows; each block's weights are read by one thread.
    at::parallel_for(0, blocks, 4, [&](int64_t begin, int64_t end) {
        // Rows in chunks that stay in this core's cache while every block passes over them:
        // without it, a batch of images (thousands of rows) came from memory once per block.
        for (int64_t m0 = 0; m0 < M; m0 += kChunkRows) {
            const int64_t mEnd = std::min(M, m0 + kChunkRows);
            for (int64_t j = begin; j < end;) {
                const int64_t nb = j + kWide <= end ? kWide : 1;
                const int valid = int(std::min<int64_t>(kBlock, N - (j + nb - 1) * kBlock));
                const auto *fns = nb == kWide ? kBlockRows<kWide> : kBlockRows<1>;
                for (int64_t m = m0; m < mEnd; m += kRows) {
                    const int64_t rows = std::min<int64_t>(kRows, mEnd - m);
                    fns[rows](xp + m * xStride, xStride, pairs, wp + j * blockValues, blockValues,
                              bp ? bp + j * kBlock : nullptr, yp + m * N + j * kBlock, N, valid);
                }
                j += nb;
            }
        }
    });
    return y;
#else
    (void)b;
    return {};
#endif
}

} // namespace vitscope
