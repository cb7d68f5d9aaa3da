#include "models/checkpoints/torch_archive.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <vector>

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

uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

// The uncompressed size each entry of the zip's central directory claims, by name (the
// archive's own names, top folder included). LibTorch's reader allocates a record's claimed
// size before reading it; checking the claim against the file first keeps a corrupt or
// hostile directory from asking for gigabytes. Empty when the directory cannot be read
// (LibTorch then reports the damage itself).
std::map<std::string, uint64_t> claimedSizes(const std::string &path, uint64_t fileSize)
{
    std::map<std::string, uint64_t> out;
    std::ifstream in(path, std::ios::binary);
    const uint64_t tail = std::min<uint64_t>(fileSize, 65535 + 22);
    std::vector<unsigned char> end(tail);
    in.seekg(std::streamoff(fileSize - tail));
    in.read(reinterpret_cast<char *>(end.data()), std::streamsize(tail));
    if (!in || tail < 22)
        return out;
    std::size_t eocd = std::string::npos;
    for (std::size_t i = tail - 22 + 1; i-- > 0;)
        if (le(&end[i], 4) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd == std::string::npos)
        return out;
    uint64_t count = le(&end[eocd + 10], 2), cdSize = le(&end[eocd + 12], 4), cdOffset = le(&end[eocd + 16], 4);
    if ((count == 0xffff || cdSize == 0xffffffff || cdOffset == 0xffffffff) && eocd >= 20 &&
        le(&end[eocd - 20], 4) == 0x07064b50) { // zip64: the locator points at the zip64 end record
        const uint64_t at = le(&end[eocd - 20 + 8], 8);
        unsigned char z[56];
        if (at + 56 > fileSize)
            return out;
        in.seekg(std::streamoff(at));
        in.read(reinterpret_cast<char *>(z), 56);
        if (!in || le(z, 4) != 0x06064b50)
            return out;
        count = le(z + 32, 8), cdSize = le(z + 40, 8), cdOffset = le(z + 48, 8);
    }
    if (cdOffset > fileSize || cdSize > fileSize - cdOffset || cdSize > (uint64_t(64) << 20))
        return out;
    std::vector<unsigned char> cd(cdSize);
    in.seekg(std::streamoff(cdOffset));
    in.read(reinterpret_cast<char *>(cd.data()), std::streamsize(cdSize));
    if (!in)
        return out;
    std::size_t p = 0;
    for (uint64_t k = 0; k < count && p + 46 <= cd.size() && le(&cd[p], 4) == 0x02014b50; ++k) {
        uint64_t uncomp = le(&cd[p + 24], 4);
        const std::size_t nameLen = le(&cd[p + 28], 2), extraLen = le(&cd[p + 30], 2), commentLen = le(&cd[p + 32], 2);
        if (p + 46 + nameLen + extraLen + commentLen > cd.size())
            break;
        const std::string name(reinterpret_cast<const char *>(&cd[p + 46]), nameLen);
        if (uncomp == 0xffffffff) // the zip64 extra field (id 1) holds the real size first
            for (std::size_t e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen;) {
                const uint64_t id = le(&cd[e], 2), len = le(&cd[e + 2], 2);
                if (id == 1 && len >= 8 && e + 12 <= cd.size())
                    uncomp = le(&cd[e + 4], 8);
                e += 4 + len;
            }
        out[name] = uncomp;
        p += 46 + nameLen + extraLen + commentLen;
    }
    return out;
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
    archive->m_claimed = claimedSizes(path, archive->m_fileSize);
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
    // LibTorch allocates what the zip directory claims before reading: check the claim.
    for (const auto &[name, size] : m_claimed)
        if (name.size() > record.size() && name.compare(name.size() - record.size(), record.size(), record) == 0 &&
            name[name.size() - record.size() - 1] == '/' && size > m_fileSize)
            throw FileError(m_path, record + " claims " + std::to_string(size) + " bytes in a file of " +
                                        std::to_string(m_fileSize) + ": the zip directory is corrupt");
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
