#pragma once
// PyTorch's zip container, as torch.save (PyTorch 1.6 and later) and torch.jit.save write
// it: ARCHIVE/data.pkl (the pickle), ARCHIVE/data/KEY (one record per storage),
// ARCHIVE/version or ARCHIVE/.data/version, and for TorchScript ARCHIVE/code/ and
// ARCHIVE/constants.pkl. The zip itself is read by LibTorch's own reader
// (caffe2::serialize::PyTorchStreamReader: any top folder name, stored 64-byte aligned
// entries, zip64); the pickles go through vitscope's restricted unpickler, so nothing
// in the file is ever run (no torch::jit::load, no torch::pickle_load).
//
// Thread-safety: reads are serialised by the reader; an archive may be shared.
// Errors: vitscope::FileError naming the file.

#include <map>
#include <memory>
#include <utility>
#include <string>
#include <vector>

#include "models/checkpoints/pickle.h"
#include "models/checkpoints/safetensors.h"

namespace caffe2::serialize {
class PyTorchStreamReader;
class ReadAdapterInterface;
}

namespace vitscope {

class TorchArchive : public std::enable_shared_from_this<TorchArchive> {
public:
    // Opens `path`. A pre-1.6 (legacy, not zip) torch.save file is refused with how to
    // convert it; anything else that is not a PyTorch archive is refused naming what it is.
    static std::shared_ptr<TorchArchive> open(const std::string &path);
    // The same checks and reader over bytes already in memory (the fuzzer, a download
    // being inspected); `name` stands for the file in every error and in path(). The
    // archive keeps `bytes` alive for its lazy tensors.
    static std::shared_ptr<TorchArchive> fromBytes(std::shared_ptr<const std::string> bytes, const std::string &name);
    ~TorchArchive();

    const std::string &path() const { return m_path; }
    // TorchScript (torch.jit.save: code/ and constants.pkl) rather than torch.save.
    bool isTorchScript() const { return m_torchScript; }
    bool hasRecord(const std::string &name) const;
    std::vector<std::string> records() const;

    // Unpickles a record ("data.pkl") with the restricted unpickler, and checks that every
    // storage it names exists under `storageFolder` ("data", or "constants" for
    // constants.pkl) and fits in the file.
    pickle::Result readPickle(const std::string &record, const std::string &storageFolder = "data") const;

    // A tensor of the pickle, read when asked: its storage's record is read once into the
    // tensor's own memory (no second copy), and the view returned.
    LazyTensor lazyTensor(const std::shared_ptr<pickle::TensorRef> &ref, const std::string &storageFolder = "data") const;
    torch::Tensor readTensor(const pickle::TensorRef &ref, const std::string &storageFolder = "data") const;

private:
    TorchArchive() = default;
    static std::shared_ptr<TorchArchive> openFrom(std::shared_ptr<caffe2::serialize::ReadAdapterInterface> in,
                                                  const std::string &name);
    // The record's bytes, in memory allocated for them; FileError when unreadable.
    std::pair<c10::DataPtr, std::size_t> readRecord(const std::string &record) const;
    std::string m_path;
    uint64_t m_fileSize = 0;
    bool m_torchScript = false;
    std::unique_ptr<caffe2::serialize::PyTorchStreamReader> m_reader;
};

// True when the file starts like a zip archive ("PK\3\4").
bool looksLikeZip(const std::string &path);

} // namespace vitscope
