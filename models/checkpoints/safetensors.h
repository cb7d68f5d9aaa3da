#pragma once
// safetensors files (Hugging Face's tensor format), read and written without any
// third-party code: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the data. Treats every file as untrusted: the header is bounded (100 MB), every
// dtype times shape must equal its byte range, every range lies inside the file, the
// ranges tile the data without overlap, gap or trailing bytes, and nothing is allocated
// before that is checked, so a hostile header cannot make it allocate more than the file
// holds. Errors are vitscope::FileError naming the file and the tensor.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace vitscope {

using TensorMap = std::map<std::string, torch::Tensor>;
using Metadata = std::map<std::string, std::string>;

// A tensor known by its shape and dtype, read only when asked: model loading checks every
// shape first, then reads one tensor at a time into the model, so the peak memory is the
// model plus its largest tensor, not the model plus the whole file.
struct LazyTensor {
    std::vector<int64_t> shape;
    torch::ScalarType dtype = torch::kFloat32;
    std::function<torch::Tensor()> read; // a CPU tensor of that shape and dtype; may throw FileError
};
using LazyTensorMap = std::map<std::string, LazyTensor>;

// Wraps tensors already in memory.
LazyTensorMap lazyTensors(const TensorMap &tensors);
// Rows [begin, end) of a tensor along dimension 0 (a fused qkv split into q, k, v).
LazyTensor lazyRows(const LazyTensor &source, int64_t begin, int64_t end);
// The transpose of a matrix (OpenAI's `x @ proj` into a Linear weight).
LazyTensor lazyTransposed(const LazyTensor &source);

// Checks the header as readSafetensors does and returns the tensors unread; each read
// opens the file again (the file must stay in place until the model is loaded).
LazyTensorMap openSafetensors(const std::string &path, Metadata *metadata = nullptr);

// Reads all tensors to the CPU (dtypes F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL).
TensorMap readSafetensors(const std::string &path, Metadata *metadata = nullptr);

// Writes tensors (moved to the CPU, made contiguous) in name order. The file is written
// beside the target and renamed over it at the end, so an interrupted write never
// leaves a truncated file under `path`.
void writeSafetensors(const std::string &path, const TensorMap &tensors, const Metadata &metadata = {});

// "F32", "BF16", ... for a torch dtype; throws for dtypes safetensors cannot hold here.
std::string safetensorsDtypeName(torch::ScalarType type);

} // namespace vitscope
