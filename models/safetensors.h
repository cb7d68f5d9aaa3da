#pragma once
// safetensors files (Hugging Face's tensor format), read and written without any
// third-party code: an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
// then the data. Treats every file as untrusted: the header is bounded (100 MB), every
// dtype times shape must equal its byte range, every range lies inside the file, the
// ranges tile the data without overlap, gap or trailing bytes, and nothing is allocated
// before that is checked, so a hostile header cannot make it allocate more than the file
// holds. Errors are vitscope::FileError naming the file and the tensor.

#include <map>
#include <string>

#include <torch/torch.h>

namespace vitscope {

using TensorMap = std::map<std::string, torch::Tensor>;
using Metadata = std::map<std::string, std::string>;

// Reads all tensors to the CPU (dtypes F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL).
TensorMap readSafetensors(const std::string &path, Metadata *metadata = nullptr);

// Writes tensors (moved to the CPU, made contiguous) in name order. The file is written
// beside the target and renamed over it at the end, so an interrupted write never
// leaves a truncated file under `path`.
void writeSafetensors(const std::string &path, const TensorMap &tensors, const Metadata &metadata = {});

// "F32", "BF16", ... for a torch dtype; throws for dtypes safetensors cannot hold here.
std::string safetensorsDtypeName(torch::ScalarType type);

} // namespace vitscope
