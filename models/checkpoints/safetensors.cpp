#include "models/checkpoints/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/error.h"

namespace vitscope {
namespace {

using nlohmann::json;

constexpr std::uint64_t kMaxHeader = 100u << 20;

struct DtypeInfo {
    const char *name;
    torch::ScalarType type;
    std::uint64_t bytes;
};

const std::vector<DtypeInfo> &dtypes()
{
    static const std::vector<DtypeInfo> table = {
        {"F64", torch::kFloat64, 8}, {"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2},
        {"BF16", torch::kBFloat16, 2}, {"I64", torch::kInt64, 8}, {"I32", torch::kInt32, 4},
        {"I16", torch::kInt16, 2},     {"I8", torch::kInt8, 1},    {"U8", torch::kUInt8, 1},
        {"BOOL", torch::kBool, 1},
    };
    return table;
}

struct Entry {
    std::string name;
    const DtypeInfo *dtype;
    std::vector<int64_t> shape;
    std::uint64_t begin, end;
};

std::string shapeText(const std::vector<int64_t> &s)
{
    std::string t = "(";
    for (std::size_t i = 0; i < s.size(); ++i)
        t += (i ? ", " : "") + std::to_string(s[i]);
    return t + ")";
}

} // namespace

std::string safetensorsDtypeName(torch::ScalarType type)
{
    for (const auto &d : dtypes())
        if (d.type == type)
            return d.name;
    throw Error(std::string("safetensors: unsupported dtype ") + c10::toString(type));
}

namespace {

struct Header {
    json object;              // the header's object: tensor entries and __metadata__
    std::uint64_t fileSize = 0;
    std::uint64_t length = 0; // of the header, after its 8-byte length
};

// The 8-byte length and the JSON header, checked against the file's size and a limit.
Header readHeader(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FileError(path, std::string("cannot open: ") + std::strerror(errno));
    std::error_code ec;
    const std::uint64_t fileSize = std::filesystem::file_size(path, ec);
    if (ec)
        throw FileError(path, "cannot read its size: " + ec.message());
    if (fileSize < 8)
        throw FileError(path, "not a safetensors file: " + std::to_string(fileSize) +
                                  " bytes, shorter than the 8-byte header length");
    unsigned char lenBytes[8];
    in.read(reinterpret_cast<char *>(lenBytes), 8);
    std::uint64_t headerLen = 0;
    for (int i = 7; i >= 0; --i)
        headerLen = (headerLen << 8) | lenBytes[i];
    if (headerLen > kMaxHeader || headerLen > fileSize - 8)
        throw FileError(path, "not a safetensors file: header length " + std::to_string(headerLen) +
                                  " exceeds " + (headerLen > kMaxHeader ? "the 100 MB limit" : "the file size " + std::to_string(fileSize)));
    std::string headerText(headerLen, '\0');
    in.read(headerText.data(), static_cast<std::streamsize>(headerLen));
    if (!in)
        throw FileError(path, "truncated inside the header");

    Header h;
    h.fileSize = fileSize;
    h.length = headerLen;
    try {
        h.object = json::parse(headerText);
    } catch (const json::parse_error &e) {
        throw FileError(path, std::string("header is not valid JSON: ") + e.what());
    }
    if (!h.object.is_object())
        throw FileError(path, "header is not a JSON object");
    return h;
}

// The tensors' byte ranges must tile [0, dataSize): no overlap, no gap, no trailing bytes.
void checkTiling(const std::vector<Entry> &entries, std::uint64_t dataSize, const std::string &path)
{
    std::vector<const Entry *> byOffset;
    for (const auto &e : entries)
        byOffset.push_back(&e);
    std::sort(byOffset.begin(), byOffset.end(), [](const Entry *a, const Entry *b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::uint64_t cursor = 0;
    for (const Entry *e : byOffset) {
        if (e->begin < cursor)
            throw FileError(path, "tensor '" + e->name + "' overlaps the previous tensor's bytes");
        if (e->begin > cursor)
            throw FileError(path, "unused bytes " + std::to_string(cursor) + ".." + std::to_string(e->begin) +
                                      " before tensor '" + e->name + "'");
        cursor = e->end;
    }
    if (cursor != dataSize)
        throw FileError(path, std::to_string(dataSize - cursor) + " unexpected bytes after the last tensor");
}

} // namespace

LazyTensorMap openSafetensors(const std::string &path, Metadata *metadata)
{
    const Header h = readHeader(path);
    const json &header = h.object;
    const std::uint64_t fileSize = h.fileSize, headerLen = h.length;
    const std::uint64_t dataSize = fileSize - 8 - headerLen;
    std::vector<Entry> entries;
    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string &name = it.key();
        if (name == "__metadata__") {
            if (!it->is_object())
                throw FileError(path, "__metadata__ is not an object");
            if (metadata)
                for (auto m = it->begin(); m != it->end(); ++m) {
                    if (!m->is_string())
                        throw FileError(path, "__metadata__ value for '" + m.key() + "' is not a string");
                    (*metadata)[m.key()] = m->get<std::string>();
                }
            continue;
        }
        const json &e = *it;
        auto bad = [&](const std::string &what) { return FileError(path, "tensor '" + name + "': " + what); };
        if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
            throw bad("expected an object with dtype, shape and data_offsets");
        if (!e["dtype"].is_string())
            throw bad("dtype is not a string");
        const std::string dt = e["dtype"];
        const DtypeInfo *info = nullptr;
        for (const auto &d : dtypes())
            if (dt == d.name)
                info = &d;
        if (!info)
            throw bad("unsupported dtype '" + dt + "'");
        if (!e["shape"].is_array() || e["shape"].size() > 8)
            throw bad("shape must be an array of at most 8 sizes");
        std::vector<int64_t> shape;
        std::uint64_t count = 1;
        for (const auto &s : e["shape"]) {
            if (!s.is_number_unsigned())
                throw bad("shape holds " + s.dump() + ", not a size");
            const std::uint64_t d = s.get<std::uint64_t>();
            if (d != 0 && count > dataSize / d)
                throw bad("shape " + e["shape"].dump() + " is larger than the file's data");
            count *= d;
            shape.push_back(static_cast<int64_t>(d));
        }
        const auto &off = e["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
            throw bad("data_offsets must be two unsigned integers");
        const std::uint64_t begin = off[0], end = off[1];
        if (begin > end || end > dataSize)
            throw bad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                      "] fall outside the data section of " + std::to_string(dataSize) + " bytes");
        if (count * info->bytes != end - begin)
            throw bad(dt + " " + shapeText(shape) + " needs " + std::to_string(count * info->bytes) +
                      " bytes, data_offsets give " + std::to_string(end - begin));
        entries.push_back({name, info, std::move(shape), begin, end});
    }

    checkTiling(entries, dataSize, path);

    LazyTensorMap out;
    const std::uint64_t dataStart = 8 + headerLen;
    for (const Entry &e : entries) {
        LazyTensor lazy;
        lazy.shape = e.shape;
        lazy.dtype = e.dtype->type;
        lazy.read = [path, dataStart, e, fileSize]() {
            std::ifstream in(path, std::ios::binary);
            std::error_code ec;
            if (!in || std::filesystem::file_size(path, ec) != fileSize)
                throw FileError(path, "changed or removed while the model was loading");
            auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
            in.seekg(static_cast<std::streamoff>(dataStart + e.begin));
            in.read(static_cast<char *>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
            if (!in)
                throw FileError(path, "read failed inside tensor '" + e.name + "'");
            return t;
        };
        out.emplace(e.name, std::move(lazy));
    }
    return out;
}

TensorMap readSafetensors(const std::string &path, Metadata *metadata)
{
    TensorMap out;
    for (auto &[name, lazy] : openSafetensors(path, metadata))
        out.emplace(name, lazy.read());
    return out;
}

LazyTensorMap lazyTensors(const TensorMap &tensors)
{
    LazyTensorMap out;
    for (const auto &entry : tensors) {
        const torch::Tensor t = entry.second; // (a structured binding cannot be captured in C++17)
        out.emplace(entry.first, LazyTensor{t.sizes().vec(), t.scalar_type(), [t] { return t; }});
    }
    return out;
}

LazyTensor lazyRows(const LazyTensor &source, int64_t begin, int64_t end)
{
    LazyTensor out = source;
    if (out.shape.empty() || begin < 0 || end > out.shape[0] || begin > end)
        throw Error("lazyRows: rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range");
    out.shape[0] = end - begin;
    auto read = source.read;
    out.read = [read, begin, end] { return read().slice(0, begin, end); };
    return out;
}

LazyTensor lazyTransposed(const LazyTensor &source)
{
    if (source.shape.size() != 2)
        throw Error("lazyTransposed: not a matrix");
    LazyTensor out = source;
    std::swap(out.shape[0], out.shape[1]);
    auto read = source.read;
    out.read = [read] { return read().t(); };
    return out;
}

void writeSafetensors(const std::string &path, const TensorMap &tensors, const Metadata &metadata)
{
    json header = json::object();
    if (!metadata.empty())
        header["__metadata__"] = metadata;
    std::vector<torch::Tensor> data;
    std::uint64_t offset = 0;
    for (const auto &[name, tensor] : tensors) {
        if (name == "__metadata__" || name.empty())
            throw FileError(path, "invalid tensor name '" + name + "'");
        auto t = tensor.detach().to(torch::kCPU).contiguous();
        const std::uint64_t bytes = t.numel() * t.element_size();
        header[name] = {{"dtype", safetensorsDtypeName(t.scalar_type())},
                        {"shape", t.sizes().vec()},
                        {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
        data.push_back(t);
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' '); // data starts 8-byte aligned, as HF writes it

    const std::string tmp = path + ".partial";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out)
            throw FileError(path, std::string("cannot create: ") + std::strerror(errno));
        unsigned char len[8];
        std::uint64_t n = text.size();
        for (int i = 0; i < 8; ++i, n >>= 8)
            len[i] = static_cast<unsigned char>(n & 0xff);
        out.write(reinterpret_cast<const char *>(len), 8);
        errno = 0;
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
        for (const auto &t : data)
            if (out)
                out.write(static_cast<const char *>(t.data_ptr()), static_cast<std::streamsize>(t.numel() * t.element_size()));
        out.flush();
        if (!out) {
            const int err = errno; // what write(2) said: ENOSPC, EFBIG, EDQUOT, EIO...
            out.close();
            std::remove(tmp.c_str());
            throw FileError(path, std::string("write failed (") + (err ? std::strerror(err) : "unknown error") +
                                      "); the previous file, if any, is untouched");
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::remove(tmp.c_str());
        throw FileError(path, "cannot replace: " + ec.message());
    }
}

} // namespace vitscope
