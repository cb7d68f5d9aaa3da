#include <gtest/gtest.h>

#include <torch/torch.h>

#include "models/runtime/device.h"
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
