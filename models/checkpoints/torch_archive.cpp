#include "models/checkpoints/torch_archive.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <caffe2/serialize/inline_container.h>

#include "models/error.h"

namespace fs = std::filesystem;

namespace vitscope {
namespace {

std::string firstBytes(const std::string &path, std::size_t n)
{
    std::ifstream in(path, std::ios::binary);
    std::string s(n, '\0');
    in.read(s.data(), std::streamsize(n));
    s.resize(std::size_t(in.gcount()));
    return s;
}

// c10::Error messages carry a C++ backtrace; keep the first line.
std::string firstLine(const char *what)
{
    std::string s(what ? what : "");
    const auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
}

std::size_t bytesPerElement(c10::ScalarType t)
{
    return c10::elementSize(t);
}

} // namespace

bool looksLikeZip(const std::string &path)
{
    return firstBytes(path, 4) == std::string("PK\x03\x04", 4);
}

std::shared_ptr<TorchArchive> TorchArchive::open(const std::string &path)
{
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
        throw FileError(path, fs::exists(path, ec) ? "not a file" : "missing");
    const std::string head = firstBytes(path, 16);
    // torch.save before 1.6 (or with _use_new_zipfile_serialization=False): pickle protocol 2
    // followed by the magic number 0x1950a86a20f9469cfc6c as a LONG1.
    static const std::string legacyMagic("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 14);
    if (head.compare(0, legacyMagic.size(), legacyMagic) == 0)
        throw FileError(path, "a legacy (pre-1.6) torch.save file, which is a stream of pickles that only "
                              "Python can read safely; convert it once with PyTorch: "
                              "torch.save(torch.load(path, map_location='cpu'), 'converted.pth')");
    if (head.compare(0, 4, std::string("PK\x03\x04", 4)) != 0) {
        if (!head.empty() && static_cast<unsigned char>(head[0]) == 0x80)
            throw FileError(path, "a bare pickle, not a PyTorch archive: vitscope reads torch.save's zip "
                                  "format (PyTorch 1.6 and later) and safetensors");
        throw FileError(path, head.empty() ? "empty file" : "not a PyTorch checkpoint (no zip archive)");
    }
    auto archive = std::shared_ptr<TorchArchive>(new TorchArchive());
    archive->m_path = path;
    archive->m_fileSize = fs::file_size(path, ec);
    try {
        archive->m_reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
    } catch (const c10::Error &e) {
        throw FileError(path, "not a readable PyTorch archive (truncated or corrupt?): " +
                                  firstLine(e.what_without_backtrace()));
    } catch (const std::exception &e) {
        throw FileError(path, std::string("not a readable PyTorch archive (truncated or corrupt?): ") + e.what());
    }
    if (!archive->hasRecord("data.pkl"))
        throw FileError(path, "a zip archive without data.pkl: not a torch.save or TorchScript file");
    archive->m_torchScript = archive->hasRecord("constants.pkl");
    if (archive->hasRecord("byteorder")) {
        try {
            auto [ptr, size] = archive->m_reader->getRecord("byteorder");
            const std::string order(static_cast<const char *>(ptr.get()), size);
            if (order != "little")
                throw FileError(path, "saved on a " + order + "-endian machine; only little-endian files load");
        } catch (const c10::Error &e) {
            throw FileError(path, "byteorder record unreadable: " + firstLine(e.what_without_backtrace()));
        }
    }
    return archive;
}

TorchArchive::~TorchArchive() = default;

bool TorchArchive::hasRecord(const std::string &name) const
{
    try {
        return m_reader->hasRecord(name);
    } catch (const c10::Error &e) {
        throw FileError(m_path, "zip directory unreadable: " + firstLine(e.what_without_backtrace()));
    }
}

std::vector<std::string> TorchArchive::records() const
{
    try {
        return m_reader->getAllRecords();
    } catch (const c10::Error &e) {
        throw FileError(m_path, "zip directory unreadable: " + firstLine(e.what_without_backtrace()));
    }
}

std::pair<at::DataPtr, std::size_t> TorchArchive::readRecord(const std::string &record) const
{
    try {
        auto [data, size] = m_reader->getRecord(record);
        return {std::move(data), size};
    } catch (const c10::Error &e) {
        throw FileError(m_path, record + " unreadable: " + firstLine(e.what_without_backtrace()));
    }
}

pickle::Result TorchArchive::readPickle(const std::string &record, const std::string &storageFolder) const
{
    auto [data, size] = readRecord(record);
    pickle::Result result =
        pickle::unpickle(static_cast<const char *>(data.get()), size, m_path + " (" + record + ")");
    // Every storage must exist and fit in the file, before anything is allocated for it.
    std::vector<const pickle::Value *> todo{result.root.get()};
    std::set<const pickle::StorageRef *> seen;
    while (!todo.empty()) {
        const pickle::Value *v = todo.back();
        todo.pop_back();
        if (!v)
            continue;
        const pickle::StorageRef *s = v->kind == pickle::Kind::Tensor    ? v->tensor->storage.get()
                                      : v->kind == pickle::Kind::Storage ? v->storage.get()
                                                                         : nullptr;
        if (s && seen.insert(s).second) {
            const long double bytes = (long double)s->numel * bytesPerElement(s->dtype);
            if (bytes > (long double)m_fileSize)
                throw FileError(m_path, "storage '" + s->key + "' claims " + std::to_string(s->numel) +
                                            " elements, more than the file's " + std::to_string(m_fileSize) +
                                            " bytes: truncated or corrupt");
            if (!hasRecord(storageFolder + "/" + s->key))
                throw FileError(m_path, "storage record " + storageFolder + "/" + s->key +
                                            " is missing: truncated or corrupt");
        }
        for (const auto &i : v->items)
            todo.push_back(i.get());
        for (const auto &[k, val] : v->entries) {
            todo.push_back(k.get());
            todo.push_back(val.get());
        }
        todo.push_back(v->state.get());
    }
    return result;
}

torch::Tensor TorchArchive::readTensor(const pickle::TensorRef &ref, const std::string &storageFolder) const
{
    const std::string record = storageFolder + "/" + ref.storage->key;
    auto [data, size] = readRecord(record);
    const std::size_t elem = bytesPerElement(ref.storage->dtype);
    if (size < std::size_t(ref.storage->numel) * elem)
        throw FileError(m_path, record + " holds " + std::to_string(size) + " bytes, its storage needs " +
                                    std::to_string(std::size_t(ref.storage->numel) * elem));
    // The record's memory becomes the tensor's storage: no copy.
    c10::Storage storage(c10::Storage::use_byte_size_t(), size, std::move(data), nullptr, false);
    torch::Tensor t = torch::empty({0}, torch::TensorOptions().dtype(ref.storage->dtype));
    t.set_(storage, ref.offset, ref.sizes, ref.strides);
    return t;
}

LazyTensor TorchArchive::lazyTensor(const std::shared_ptr<pickle::TensorRef> &ref, const std::string &storageFolder) const
{
    LazyTensor lazy;
    lazy.shape = ref->sizes;
    lazy.dtype = ref->storage->dtype;
    auto self = shared_from_this();
    lazy.read = [self, ref, storageFolder] { return self->readTensor(*ref, storageFolder); };
    return lazy;
}

} // namespace vitscope
