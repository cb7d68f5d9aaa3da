#include "trainer/data/sources.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "models/error.h"
#include "trainer/data/images.h"

namespace vitscope::data {

namespace fs = std::filesystem;

const std::vector<std::string> &SampleSource::classNames() const
{
    static const std::vector<std::string> none;
    return none;
}

namespace {

class ImageSetSource : public SampleSource {
public:
    ImageSetSource(ImageSet set, int64_t limit) : m_set(std::move(set))
    {
        m_count = limit > 0 ? std::min(limit, m_set.count) : m_set.count;
        if (m_count == 0)
            throw FileError(m_set.source, "holds no images");
    }
    int64_t size() const override { return m_count; }
    torch::Tensor image(int64_t i) const override
    {
        return torch::from_blob(const_cast<std::uint8_t *>(m_set.image(i)), {m_set.height, m_set.width, m_set.channels},
                                torch::kByte)
            .clone();
    }
    int64_t label(int64_t i) const override { return m_set.labels[std::size_t(i)]; }
    const std::vector<std::string> &classNames() const override { return m_set.classNames; }
    std::string describe() const override { return m_set.source; }

private:
    ImageSet m_set;
    int64_t m_count = 0;
};

// Images read from files on demand (decoded once up front to check them).
class FileSource : public SampleSource {
public:
    struct Item {
        std::string path;
        int64_t label = -1;
        std::string caption;
    };
    FileSource(std::string what, std::vector<Item> items, std::vector<std::string> classes, std::vector<Skipped> skipped)
        : m_what(std::move(what)), m_items(std::move(items)), m_classes(std::move(classes))
    {
        m_skipped = std::move(skipped);
    }
    int64_t size() const override { return int64_t(m_items.size()); }
    torch::Tensor image(int64_t i) const override { return rgbToTensor(loadImageRgb(m_items[std::size_t(i)].path)); }
    int64_t label(int64_t i) const override { return m_items[std::size_t(i)].label; }
    std::string caption(int64_t i) const override { return m_items[std::size_t(i)].caption; }
    const std::vector<std::string> &classNames() const override { return m_classes; }
    std::string describe() const override { return m_what; }

private:
    std::string m_what;
    std::vector<Item> m_items;
    std::vector<std::string> m_classes;
};

bool readable(const std::string &path, std::string &why)
{
    try {
        (void)loadImageRgb(path);
        return true;
    } catch (const Error &e) {
        why = e.what();
        return false;
    }
}

std::vector<std::string> splitRow(const std::string &line, char sep)
{
    // Fields may be quoted ("..." with "" for a quote), as Python's csv module writes them.
    std::vector<std::string> out;
    std::string field;
    bool quoted = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (quoted) {
            if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
                field += '"', ++i;
            else if (c == '"')
                quoted = false;
            else
                field += c;
        } else if (c == '"' && field.empty()) {
            quoted = true;
        } else if (c == sep) {
            out.push_back(field);
            field.clear();
        } else {
            field += c;
        }
    }
    out.push_back(field);
    return out;
}

} // namespace

std::shared_ptr<SampleSource> imageSetSource(ImageSet set, int64_t limit)
{
    return std::make_shared<ImageSetSource>(std::move(set), limit);
}

std::shared_ptr<SampleSource> imageFolderSource(const std::string &root, int64_t limit,
                                                const std::vector<std::string> &classNames)
{
    std::error_code ec;
    if (!fs::is_directory(root, ec))
        throw FileError(root, fs::exists(root) ? "not a folder" : "missing");
    std::vector<std::string> classes = classNames;
    if (classes.empty()) {
        for (const auto &e : fs::directory_iterator(root))
            if (e.is_directory())
                classes.push_back(e.path().filename().string());
        std::sort(classes.begin(), classes.end());
    }
    if (classes.empty())
        throw FileError(root, "has no class subfolders (expected root/class_name/image files)");
    std::vector<FileSource::Item> items;
    std::vector<Skipped> skipped;
    for (std::size_t c = 0; c < classes.size(); ++c) {
        const fs::path dir = fs::path(root) / classes[c];
        if (!fs::is_directory(dir))
            continue;
        for (const auto &path : listImageFiles(dir.string())) {
            if (limit > 0 && int64_t(items.size()) >= limit)
                break;
            std::string why;
            if (readable(path, why))
                items.push_back({path, int64_t(c), ""});
            else
                skipped.push_back({path, 0, why});
        }
    }
    if (items.empty())
        throw FileError(root, "no readable images in its class subfolders" +
                                  (skipped.empty() ? std::string() : " (" + std::to_string(skipped.size()) + " unreadable)"));
    return std::make_shared<FileSource>(root, std::move(items), std::move(classes), std::move(skipped));
}

std::shared_ptr<SampleSource> captionCsvSource(const std::string &csvPath, const CaptionCsvOptions &opt, int64_t limit)
{
    std::ifstream in(csvPath);
    if (!in)
        throw FileError(csvPath, fs::exists(csvPath) ? "cannot open" : "missing");
    std::string line;
    if (!std::getline(in, line))
        throw FileError(csvPath, "is empty: expected a header row with " + opt.pathColumn + " and " + opt.captionColumn);
    if (!line.empty() && line.back() == '\r')
        line.pop_back();
    const auto header = splitRow(line, opt.separator);
    int pathCol = -1, capCol = -1;
    for (std::size_t i = 0; i < header.size(); ++i) {
        if (header[i] == opt.pathColumn)
            pathCol = int(i);
        if (header[i] == opt.captionColumn)
            capCol = int(i);
    }
    if (pathCol < 0 || capCol < 0)
        throw FileError(csvPath, "line 1: the header needs columns '" + opt.pathColumn + "' and '" + opt.captionColumn +
                                     "' (separator " + (opt.separator == '\t' ? std::string("tab") : std::string(1, opt.separator)) +
                                     ")");
    const fs::path base = fs::path(csvPath).parent_path();
    std::vector<FileSource::Item> items;
    std::vector<Skipped> skipped;
    int64_t lineNo = 1;
    while (std::getline(in, line)) {
        ++lineNo;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty())
            continue;
        if (limit > 0 && int64_t(items.size()) >= limit)
            break;
        const auto row = splitRow(line, opt.separator);
        if (int(row.size()) <= std::max(pathCol, capCol)) {
            skipped.push_back({csvPath, lineNo, "expected " + std::to_string(header.size()) + " fields, found " +
                                                    std::to_string(row.size())});
            continue;
        }
        const std::string &caption = row[std::size_t(capCol)];
        if (caption.find_first_not_of(" \t") == std::string::npos) {
            skipped.push_back({csvPath, lineNo, "empty caption"});
            continue;
        }
        fs::path p = row[std::size_t(pathCol)];
        if (p.is_relative())
            p = base / p;
        std::string why;
        if (!readable(p.string(), why)) {
            skipped.push_back({csvPath, lineNo, why});
            continue;
        }
        items.push_back({p.string(), -1, caption});
    }
    if (items.empty())
        throw FileError(csvPath, "no usable rows" +
                                     (skipped.empty() ? std::string() : " (" + std::to_string(skipped.size()) + " skipped)"));
    return std::make_shared<FileSource>(csvPath, std::move(items), std::vector<std::string>{}, std::move(skipped));
}

std::shared_ptr<SampleSource> openSource(const std::string &spec, Split split, int64_t limit,
                                         const CaptionCsvOptions &csv)
{
    if (spec.empty() || spec == "fashion-mnist" || spec.rfind("fashion-mnist:", 0) == 0) {
        const std::string dir = resolveFashionMnistDir(spec.size() > 14 ? spec.substr(14) : "fashion-mnist");
        return imageSetSource(loadFashionMnist(dir, split), limit);
    }
    const std::string ext = fs::path(spec).extension().string();
    if (ext == ".csv" || ext == ".tsv") // open_clip's convention: tab-separated even when named .csv
        return captionCsvSource(spec, csv, limit);
    return imageFolderSource(spec, limit);
}

} // namespace vitscope::data
