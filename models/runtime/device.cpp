#include "models/runtime/device.h"

#include <cstdlib>
#include <thread>

#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "models/error.h"
#include "models/runtime/allocator.h"
#include "models/runtime/machine.h"

namespace vitscope {

torch::Device parseDevice(const std::string &spec)
{
    if (spec.empty() || spec == "auto")
        return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
    if (spec == "cpu")
        return torch::Device(torch::kCPU);
    if (spec.rfind("cuda", 0) == 0) {
        int index = 0;
        if (spec.size() > 4) {
            if (spec[4] != ':' || spec.size() == 5)
                throw Error("device '" + spec + "': expected cpu, cuda or cuda:N");
            try {
                index = std::stoi(spec.substr(5));
            } catch (const std::exception &) {
                throw Error("device '" + spec + "': expected cpu, cuda or cuda:N");
            }
        }
        if (!torch::cuda::is_available())
            throw Error("device '" + spec + "': this LibTorch " +
                        (torchHasCuda() ? std::string("sees no CUDA GPU") : std::string("was built without CUDA")) +
                        "; use cpu");
        if (index < 0 || index >= static_cast<int>(torch::cuda::device_count()))
            throw Error("device '" + spec + "': only " + std::to_string(torch::cuda::device_count()) +
                        " CUDA device(s) present");
        return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    throw Error("device '" + spec + "': expected auto, cpu, cuda or cuda:N");
}

void initTorchRuntime()
{
    static const bool done = [] {
        configureAllocator();
        if (!std::getenv("OMP_NUM_THREADS")) {
            const unsigned cores = std::thread::hardware_concurrency();
            if (cores > 0 && at::get_num_threads() < static_cast<int>(cores))
                at::set_num_threads(static_cast<int>(cores));
        }
        // OpenBLAS's own threads busy-wait after each product and fight LibTorch's OpenMP
        // workers for the cores: measured here (2 cores), one OpenBLAS thread trains the
        // Fashion-MNIST MAE 1.8x faster and ViT-B/16 1.15x faster (docs/performance.md).
        // Only when the BLAS is OpenBLAS and the user has not chosen.
        if (!std::getenv("OPENBLAS_NUM_THREADS") && !std::getenv("GOTO_NUM_THREADS") &&
            at::get_num_threads() > 1)
            setOpenBlasThreads(1);
        return true;
    }();
    (void)done;
}

torch::Device defaultDevice()
{
    static const torch::Device device = [] {
        initTorchRuntime();
        const char *env = std::getenv("VITSCOPE_DEVICE");
        return parseDevice(env ? env : "auto");
    }();
    return device;
}

std::string deviceDescription()
{
    initTorchRuntime();
    const torch::Device device = defaultDevice();
    if (device.is_cuda()) {
        const auto count = torch::cuda::device_count();
        return "CUDA:" + std::to_string(device.index()) + " (" + std::to_string(count) + " GPU" +
               (count == 1 ? "" : "s") + ")";
    }
    const int threads = at::get_num_threads();
    return "CPU (" + std::to_string(threads) + " thread" + (threads == 1 ? "" : "s") + ")";
}

std::string torchVersion()
{
    return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
           std::to_string(TORCH_VERSION_PATCH);
}

bool torchHasCuda()
{
    return torch::cuda::is_available() || at::hasCUDA();
}

} // namespace vitscope
