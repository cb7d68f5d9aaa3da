#pragma once
// Training and evaluation data as sample sources: one image (H, W, C uint8) and a label
// or caption per index, readable from several loader threads at once.
//   - Fashion-MNIST (IDX, in memory),
//   - image folders: root/class_name/*.png|jpg|jpeg|bmp|webp (class = folder name),
//   - image-caption CSV in open_clip's convention (tab-separated by default, columns
//     `filepath` and `title`; relative paths resolve against the CSV's folder).
// Bad rows and unreadable images are skipped when the source is built, each counted and
// reported with its file (and line); a source with nothing usable is an error.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "trainer/data/datasets.h"

namespace vitscope::data {

struct Skipped {
    std::string file;
    int64_t line = 0; // CSV line, 0 for files
    std::string reason;
};

class SampleSource {
public:
    virtual ~SampleSource() = default;
    virtual int64_t size() const = 0;
    // (H, W, C) uint8, C = 1 or 3. Thread-safe. Throws FileError naming the file.
    virtual torch::Tensor image(int64_t i) const = 0;
    // Class index, or -1 when the source has no classes.
    virtual int64_t label(int64_t i) const { return (void)i, -1; }
    // Caption, or "" when the source has no captions.
    virtual std::string caption(int64_t i) const { return (void)i, std::string(); }
    virtual const std::vector<std::string> &classNames() const;
    virtual std::string describe() const = 0;
    const std::vector<Skipped> &skipped() const { return m_skipped; }

protected:
    std::vector<Skipped> m_skipped;
};

// An in-memory image set (Fashion-MNIST), first `limit` images when limit > 0.
std::shared_ptr<SampleSource> imageSetSource(ImageSet set, int64_t limit = 0);

// root/class_name/image files. Every image is decoded once to check it; unreadable ones
// are skipped and listed. `classNames` (optional) fixes the class order (folders not in
// it are skipped); otherwise classes are the subfolders in sorted order.
std::shared_ptr<SampleSource> imageFolderSource(const std::string &root, int64_t limit = 0,
                                                const std::vector<std::string> &classNames = {});

struct CaptionCsvOptions {
    char separator = '\t';
    std::string pathColumn = "filepath";
    std::string captionColumn = "title";
};
std::shared_ptr<SampleSource> captionCsvSource(const std::string &csvPath, const CaptionCsvOptions &options = {},
                                               int64_t limit = 0);

// "fashion-mnist" / "fashion-mnist:DIR" (split chosen by `split`), a folder of class
// subfolders, or a .csv / .tsv caption file.
std::shared_ptr<SampleSource> openSource(const std::string &spec, Split split, int64_t limit = 0,
                                         const CaptionCsvOptions &csv = {});

} // namespace vitscope::data
