#include "models/checkpoints/torch_archive.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <vector>

#include <caffe2/serialize/file_adapter.h>
#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

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

using caffe2::serialize::ReadAdapterInterface;

// Bytes in memory, read as LibTorch reads a file.
class MemoryAdapter final : public ReadAdapterInterface {
public:
    explicit MemoryAdapter(std::shared_ptr<const std::string> bytes) : m_bytes(std::move(bytes)) {}
    size_t size() const override { return m_bytes->size(); }
    size_t read(uint64_t pos, void *buf, size_t n, const char * /*what*/) const override
    {
        if (n == 0 || pos >= m_bytes->size()) // LibTorch's reader asks for 0 bytes into no buffer
            return 0;
        n = std::min<std::size_t>(n, std::size_t(m_bytes->size() - pos));
        std::memcpy(buf, m_bytes->data() + pos, n);
        return n;
    }

private:
    std::shared_ptr<const std::string> m_bytes;
};

// Reads exactly n bytes at pos into out; false when the source is shorter.
bool readAt(const ReadAdapterInterface &in, uint64_t pos, void *out, std::size_t n)
{
    return pos <= in.size() && n <= in.size() - pos && in.read(pos, out, n, "") == n;
}

// The uncompressed size each entry of the zip's central directory claims, by name (the
// archive's own names, top folder included). LibTorch's reader allocates a record's claimed
// size before reading it; checking the claim against the file first keeps a corrupt or
// hostile directory from asking for gigabytes. Empty when the directory cannot be read
// (the archive is then refused).
std::map<std::string, uint64_t> claimedSizes(const ReadAdapterInterface &in)
{
    std::map<std::string, uint64_t> out;
    const uint64_t fileSize = in.size();
    const uint64_t tail = std::min<uint64_t>(fileSize, 65535 + 22);
    std::vector<unsigned char> end(tail);
    if (tail < 22 || !readAt(in, fileSize - tail, end.data(), std::size_t(tail)))
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
    // zip64, as miniz (LibTorch's zip code) reads it: whenever a locator precedes the end
    // record and points at a zip64 end record, that record's count, size and offset win,
    // whatever the 32-bit fields say.
    if (eocd >= 20 && le(&end[eocd - 20], 4) == 0x07064b50) {
        const uint64_t at = le(&end[eocd - 20 + 8], 8);
        unsigned char z[56];
        if (at > fileSize || fileSize - at < 56)
            return out;
        if (readAt(in, at, z, 56) && le(z, 4) == 0x06064b50)
            count = le(z + 32, 8), cdSize = le(z + 40, 8), cdOffset = le(z + 48, 8);
    }
    if (cdOffset > fileSize || cdSize > fileSize - cdOffset || cdSize > (uint64_t(64) << 20))
        return out;
    std::vector<unsigned char> cd(cdSize);
    if (!readAt(in, cdOffset, cd.data(), std::size_t(cdSize)))
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
        out[name] = std::max(out[name], uncomp); // a name twice: the larger claim
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
    std::shared_ptr<ReadAdapterInterface> in;
    try {
        in = std::make_shared<caffe2::serialize::FileAdapter>(path);
    } catch (const c10::Error &e) {
        throw FileError(path, "cannot be opened: " + firstLine(e.what_without_backtrace()));
    }
    return openFrom(std::move(in), path);
}

std::shared_ptr<TorchArchive> TorchArchive::fromBytes(std::shared_ptr<const std::string> bytes, const std::string &name)
{
    if (!bytes)
        throw FileError(name, "empty file");
    return openFrom(std::make_shared<MemoryAdapter>(std::move(bytes)), name);
}

std::shared_ptr<TorchArchive> TorchArchive::openFrom(std::shared_ptr<ReadAdapterInterface> in, const std::string &path)
{
    std::string head(std::min<std::size_t>(16, in->size()), '\0');
    if (!readAt(*in, 0, head.data(), head.size()))
        throw FileError(path, "unreadable");
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
    archive->m_fileSize = in->size();
    const std::map<std::string, uint64_t> claimed = claimedSizes(*in);
    // Without the claims, nothing bounds what LibTorch's reader allocates: a directory that
    // its reader accepts and this one cannot follow is refused.
    if (claimed.empty())
        throw FileError(path, "not a readable PyTorch archive (truncated or corrupt?): its zip directory "
                              "cannot be read");
    // Every claim, before LibTorch's reader reads any record (its constructor reads the
    // version record at whatever size the directory gives).
    for (const auto &[name, size] : claimed)
        if (size > archive->m_fileSize) {
            const auto slash = name.find('/');
            throw FileError(path, (slash == std::string::npos ? name : name.substr(slash + 1)) + " claims " +
                                      std::to_string(size) + " bytes in a file of " +
                                      std::to_string(archive->m_fileSize) + ": the zip directory is corrupt");
        }
    // LibTorch's reader throws from its constructor when the version record is missing, and
    // then leaks its zip state (748 bytes a file): refuse that case first, from the directory.
    const auto isVersion = [](const std::string &name) {
        for (const std::string tail : {"/version", "/.data/version"})
            if (name.size() > tail.size() && name.compare(name.size() - tail.size(), tail.size(), tail) == 0 &&
                name.find('/') == name.size() - tail.size())
                return true;
        return false;
    };
    if (std::none_of(claimed.begin(), claimed.end(), [&](const auto &e) { return isVersion(e.first); }))
        throw FileError(path, "not a readable PyTorch archive (truncated or corrupt?): a zip archive without the "
                              "version record every torch.save and TorchScript file has");
    try {
        archive->m_reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(std::move(in));
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
        auto [ptr, size] = archive->readRecord("byteorder"); // its claimed size checked first
        const std::string order(static_cast<const char *>(ptr.get()), size);
        if (order != "little")
            throw FileError(path, "saved on a " + order.substr(0, 32) + "-endian machine; only little-endian files load");
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
    // LibTorch allocates what the zip directory claims before reading: openFrom checked
    // every claim against the file's size.
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
