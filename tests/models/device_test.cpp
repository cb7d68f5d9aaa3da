#include <gtest/gtest.h>

#include <torch/torch.h>

#include "models/runtime/device.h"
#include "models/runtime/machine.h"
#include "models/error.h"

using vitscope::Error;
using vitscope::parseDevice;

TEST(Device, ParsesCpu)
{
    EXPECT_EQ(parseDevice("cpu"), torch::Device(torch::kCPU));
}

TEST(Device, AutoIsCudaExactlyWhenAvailable)
{
    const torch::Device d = parseDevice("auto");
    EXPECT_EQ(d.is_cuda(), torch::cuda::is_available());
    EXPECT_EQ(parseDevice(""), d);
}

TEST(Device, RejectsUnknownNamesWithTheAcceptedOnes)
{
    for (const char *bad : {"gpu", "cuda:", "cuda:x", "cudax", "CPU"}) {
        try {
            parseDevice(bad);
            ADD_FAILURE() << "accepted '" << bad << "'";
        } catch (const Error &e) {
            EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("cpu"), std::string::npos) << e.what();
        }
    }
}

TEST(Device, CudaWithoutGpuIsAClearError)
{
    if (torch::cuda::is_available())
        GTEST_SKIP() << "a CUDA GPU is present";
    try {
        parseDevice("cuda");
        ADD_FAILURE() << "cuda accepted without a GPU";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("use cpu"), std::string::npos) << e.what();
    }
}

TEST(Device, DescriptionNamesTheDevice)
{
    const std::string text = vitscope::deviceDescription();
    EXPECT_TRUE(text.rfind("CPU (", 0) == 0 || text.rfind("CUDA:", 0) == 0) << text;
    EXPECT_EQ(vitscope::torchVersion().substr(0, 2), std::to_string(TORCH_VERSION_MAJOR) + ".");
}

// The BLAS LibTorch resolves to must compute correctly (OpenBLAS on Debian): a matrix
// product checked against a plain triple loop in double precision.
TEST(TorchBlas, MatmulMatchesNaiveLoop)
{
    torch::manual_seed(3);
    const int n = 67, k = 129, m = 33;
    auto a = torch::randn({n, k});
    auto b = torch::randn({k, m});
    auto c = torch::matmul(a, b);
    auto A = a.accessor<float, 2>();
    auto B = b.accessor<float, 2>();
    auto C = c.accessor<float, 2>();
    double worst = 0;
    for (int i = 0; i < n; ++i)
        for (int j = 0; j < m; ++j) {
            double s = 0;
            for (int p = 0; p < k; ++p)
                s += double(A[i][p]) * double(B[p][j]);
            worst = std::max(worst, std::abs(s - double(C[i][j])));
        }
    EXPECT_LT(worst, 1e-3);
}

// The flags that decide kernels are read from /proc/cpuinfo's first "flags" line: a
// hand-written excerpt (a Sapphire Rapids-like line and a second CPU that must be ignored).
TEST(Machine, CpuFlagsThatMatterAreReadFromTheFirstFlagsLine)
{
    const std::string text = "processor\t: 0\nmodel name\t: Some CPU\n"
                             "flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni amx_bf16 amx_tile\n\n"
                             "processor\t: 1\nflags\t\t: fpu amx_int8\n";
    const std::vector<std::string> expected = {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
                                               "amx_bf16"};
    EXPECT_EQ(vitscope::cpuFlagsThatMatter(text), expected);
    EXPECT_TRUE(vitscope::cpuFlagsThatMatter("model name : x\n").empty());
    // "avx512f" must not match inside "avx512fp16"-like words, nor "avx2" inside "xavx2".
    EXPECT_TRUE(vitscope::cpuFlagsThatMatter("flags : avx512fp16 xavx2\n").empty());
}

TEST(Machine, DescribesThisCpuAndItsBlas)
{
    const vitscope::CpuInfo cpu = vitscope::cpuInfo();
    EXPECT_FALSE(cpu.model.empty());
    EXPECT_GE(cpu.cores, 1);
    // OpenBLAS (Debian's LibTorch): a core name, and its threads can be set and read back.
    if (vitscope::openBlasCore().empty()) {
        EXPECT_EQ(vitscope::openBlasThreads(), -1);
        GTEST_SKIP() << "LibTorch's BLAS is not OpenBLAS here";
    }
    const int before = vitscope::openBlasThreads();
    ASSERT_GE(before, 1);
    ASSERT_TRUE(vitscope::setOpenBlasThreads(1));
    EXPECT_EQ(vitscope::openBlasThreads(), 1);
    vitscope::setOpenBlasThreads(before);
    EXPECT_EQ(vitscope::openBlasThreads(), before);
}

TEST(CudaDevice, DefaultDeviceIsTheGpu)
{
    if (!torch::cuda::is_available())
        GTEST_SKIP() << "no CUDA GPU";
    if (std::getenv("VITSCOPE_DEVICE"))
        GTEST_SKIP() << "VITSCOPE_DEVICE overrides the choice";
    EXPECT_TRUE(vitscope::defaultDevice().is_cuda());
    auto x = torch::ones({4, 4}, torch::TensorOptions().device(vitscope::defaultDevice()));
    EXPECT_FLOAT_EQ(x.sum().item<float>(), 16.0f);
}
