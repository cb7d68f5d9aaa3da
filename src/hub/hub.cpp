#include "src/hub/hub.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "src/hub/digest.h"
#include "src/hub/file_lock.h"
#include "src/hub/http.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace vitscope::hub {
namespace {

bool isShardOf(const std::string &name, const std::string &stem, const std::string &ext)
{
    // stem-00001-of-00002.ext
    return name.rfind(stem + "-", 0) == 0 && name.size() > ext.size() &&
           name.compare(name.size() - ext.size(), ext.size(), ext) == 0 && name.find("-of-") != std::string::npos;
}

} // namespace

std::string RepoId::cacheFolderName() const
{
    std::string s = "models--" + id;
    for (std::size_t p = s.find('/'); p != std::string::npos; p = s.find('/'))
        s.replace(p, 1, "--");
    return s;
}

std::optional<RepoId> parseRepoId(const std::string &arg)
{
    std::error_code ec;
    if (arg.empty() || fs::exists(arg, ec))
        return std::nullopt;
    RepoId r;
    std::string id = arg;
    if (auto at = arg.find('@'); at != std::string::npos) {
        id = arg.substr(0, at);
        r.revision = arg.substr(at + 1);
        if (r.revision.empty())
            return std::nullopt;
    }
    const auto slash = id.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == id.size() || id.find('/', slash + 1) != std::string::npos)
        return std::nullopt;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/'))
            return std::nullopt;
    if (id.find("..") != std::string::npos || id.front() == '.' || id.back() == '.')
        return std::nullopt;
    r.id = id;
    return r;
}

HubSettings HubSettings::fromEnvironment()
{
    HubSettings s;
    if (std::string e = env("HF_ENDPOINT"); !e.empty())
        s.endpoint = e;
    while (!s.endpoint.empty() && s.endpoint.back() == '/')
        s.endpoint.pop_back();
    std::string home = env("HF_HOME");
    if (home.empty()) {
        const std::string xdg = env("XDG_CACHE_HOME");
        home = !xdg.empty() ? xdg + "/huggingface" : env("HOME") + "/.cache/huggingface";
    }
    s.cacheDir = env("HF_HUB_CACHE");
    if (s.cacheDir.empty())
        s.cacheDir = env("HUGGINGFACE_HUB_CACHE");
    if (s.cacheDir.empty())
        s.cacheDir = home + "/hub";
    s.token = env("HF_TOKEN");
    if (s.token.empty())
        s.token = env("HUGGING_FACE_HUB_TOKEN");
    if (s.token.empty()) {
        std::string path = env("HF_TOKEN_PATH");
        if (path.empty())
            path = home + "/token";
        std::ifstream in(path);
        std::string t;
        if (in && std::getline(in, t))
            s.token = trim(t);
    }
    const std::string off = lower(env("HF_HUB_OFFLINE"));
    s.offline = off == "1" || off == "on" || off == "yes" || off == "true";
    return s;
}

std::vector<RepoFile> filesForModel(const RepoInfo &info)
{
    std::map<std::string, RepoFile> byName;
    for (const auto &f : info.files)
        if (f.name.find('/') == std::string::npos)
            byName[f.name] = f;
    std::vector<RepoFile> out;
    auto take = [&](const std::string &name) {
        auto it = byName.find(name);
        if (it == byName.end())
            return false;
        out.push_back(it->second);
        return true;
    };
    auto takeShards = [&](const std::string &stem, const std::string &ext) {
        for (const auto &[name, f] : byName)
            if (isShardOf(name, stem, ext))
                out.push_back(f);
    };
    const bool hf = take("config.json");
    const bool openClip = take("open_clip_config.json");
    if (!hf && !openClip)
        throw HubError(info.repo.id + ": no config.json or open_clip_config.json: not a model vitscope loads "
                                      "(MAE: vit_mae, CLIP: clip or open_clip)");
    bool weights = false;
    if (hf) {
        if (take("model.safetensors"))
            weights = true;
        else if (take("model.safetensors.index.json"))
            takeShards("model", ".safetensors"), weights = true;
        else if (take("pytorch_model.bin"))
            weights = true;
        else if (take("pytorch_model.bin.index.json"))
            takeShards("pytorch_model", ".bin"), weights = true;
    }
    if (!weights && openClip)
        weights = take("open_clip_model.safetensors") || take("open_clip_pytorch_model.bin");
    if (!weights)
        throw HubError(info.repo.id + "@" + info.repo.revision +
                       ": no weights vitscope reads (model.safetensors, pytorch_model.bin, sharded, or open_clip's)");
    for (const char *extra : {"preprocessor_config.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                              "special_tokens_map.json"})
        take(extra);
    return out;
}

HubClient::HubClient(HubSettings settings) : m_settings(std::move(settings)) {}

RepoInfo HubClient::repoInfo(const RepoId &repo)
{
    if (m_settings.offline)
        throw HubError(repo.id + ": HF_HUB_OFFLINE is set: the Hub is not asked");
    Http http(m_settings);
    const std::string url =
        m_settings.endpoint + "/api/models/" + repo.id + "/revision/" + urlEncode(repo.revision) + "?blobs=true";
    Response r = http.withRetries("GET", url, {}, true);
    if (r.curl != CURLE_OK || r.status != 200)
        http.fail("the file list", url, r, repo);
    RepoInfo info;
    info.repo = repo;
    try {
        const json j = json::parse(r.body);
        info.commit = j.value("sha", "");
        for (const auto &s : j.at("siblings")) {
            RepoFile f;
            f.name = s.at("rfilename").get<std::string>();
            if (s.contains("size") && s["size"].is_number_integer())
                f.size = s["size"].get<int64_t>();
            if (s.contains("blobId") && s["blobId"].is_string())
                f.blobId = s["blobId"].get<std::string>();
            if (s.contains("lfs") && s["lfs"].is_object()) {
                const auto &lfs = s["lfs"];
                if (lfs.contains("sha256") && lfs["sha256"].is_string())
                    f.sha256 = lfs["sha256"].get<std::string>();
                else if (lfs.contains("oid") && lfs["oid"].is_string())
                    f.sha256 = lfs["oid"].get<std::string>();
                if (lfs.contains("size") && lfs["size"].is_number_integer())
                    f.size = lfs["size"].get<int64_t>();
            }
            if (f.name.empty() || f.name.find("..") != std::string::npos || f.name.front() == '/')
                throw HubError(url + ": the file list names '" + f.name + "', not a path inside the repository");
            info.files.push_back(std::move(f));
        }
    } catch (const json::exception &e) {
        throw HubError(url + ": the Hub's answer is not the expected JSON (" + std::string(e.what()) + ")");
    }
    if (!isCommitHash(info.commit))
        throw HubError(url + ": the Hub's answer has no commit (sha)");
    return info;
}

namespace {

// A file's git blob id: the sha1 of "blob SIZE\0" and its bytes (what the Hub calls a small
// file's blobId and its ETag).
std::string gitBlobId(const fs::path &file, int64_t size)
{
    return fileDigest(file.string(), EVP_sha1(), "blob " + std::to_string(size) + std::string(1, '\0'));
}

// What is wrong with a cached file as far as the cache alone can tell (offline), "" when
// nothing found: a snapshot entry links to blobs/ETAG, and ETAG is the file's digest: the
// git blob id (40 hex digits) of a small file, always checked (cheap); the sha256 (64) of
// an LFS file, checked with `verifyLarge` (reading it whole). A copy (no link) has no name
// to check against.
std::string offlineDamage(const fs::path &entry, bool verifyLarge)
{
    std::error_code ec;
    if (!fs::is_symlink(entry, ec))
        return {};
    const std::string etag = fs::read_symlink(entry, ec).filename().string();
    if (ec)
        return {};
    const auto size = fs::file_size(entry, ec);
    if (ec)
        return "cannot be read (" + ec.message() + ")";
    if (isHexDigest(etag, 40)) {
        if (gitBlobId(entry, int64_t(size)) != lower(etag))
            return "its git blob id does not match its blob's name " + etag;
    } else if (verifyLarge && isHexDigest(etag, 64) && fileDigest(entry.string(), EVP_sha256()) != lower(etag)) {
        return "its sha256 does not match its blob's name " + etag;
    }
    return {};
}

} // namespace

std::optional<std::string> HubClient::cachedModel(const RepoId &repo) const
{
    const fs::path root = fs::path(m_settings.cacheDir) / repo.cacheFolderName();
    std::string commit = repo.revision;
    if (!isCommitHash(commit)) {
        std::ifstream in(root / "refs" / repo.revision);
        if (!in || !std::getline(in, commit))
            return std::nullopt;
        commit = trim(commit);
    }
    const fs::path snap = root / "snapshots" / commit;
    std::error_code ec;
    if (!fs::is_directory(snap, ec))
        return std::nullopt;
    RepoInfo local;
    local.repo = repo;
    for (const auto &entry : fs::directory_iterator(snap, ec))
        if (fs::exists(entry.path(), ec)) // a link whose blob is gone does not count
            local.files.push_back(RepoFile{entry.path().filename().string(), -1, {}, {}});
    std::vector<RepoFile> needed;
    try {
        needed = filesForModel(local);
    } catch (const HubError &) {
        return std::nullopt;
    }
    if (m_settings.offline) // online, fetchModel checks each file against the Hub's list
        for (const auto &f : needed)
            if (const std::string damage = offlineDamage(snap / f.name, m_settings.verifyCached); !damage.empty())
                throw HubError((snap / f.name).string() + ": damaged in the Hugging Face cache (" + damage +
                               "); HF_HUB_OFFLINE is set, so it cannot be fetched again: unset it and pull " +
                               repo.id + " again");
    return snap.string();
}

namespace {

// Progress over every file of one fetch: bytes already on disk when it started (resumed
// partial files) count as done but not towards the rate.
class FetchProgress {
public:
    FetchProgress(const ProgressCallback &callback, int64_t allTotal)
        : m_callback(callback), m_allTotal(allTotal), m_started(std::chrono::steady_clock::now())
    {
    }
    void resumed(int64_t bytes) { m_resumed += bytes; }
    // `done` bytes of `file` (resumed bytes included) of `total`; false: cancel.
    bool report(const std::string &file, int64_t done, int64_t total) const
    {
        if (!m_callback)
            return true;
        Progress p;
        p.file = file;
        p.done = done;
        p.total = total;
        p.allDone = m_doneBefore + done;
        p.allTotal = m_allTotal;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count();
        p.bytesPerSecond = secs > 0 ? double(p.allDone - m_resumed) / secs : 0;
        p.etaSeconds = p.bytesPerSecond > 0 && m_allTotal > 0 ? double(m_allTotal - p.allDone) / p.bytesPerSecond : -1;
        return m_callback(p);
    }
    void fileDone(int64_t size) { m_doneBefore += std::max<int64_t>(0, size); }

private:
    const ProgressCallback &m_callback;
    int64_t m_allTotal = -1;
    int64_t m_doneBefore = 0;
    int64_t m_resumed = 0;
    std::chrono::steady_clock::time_point m_started;
};

// What the Hub says of one file before it is downloaded.
struct RemoteFile {
    std::string etag;        // names the blob in the cache
    int64_t size = -1;
    std::string downloadUrl; // after the resolve endpoint's redirect
};

// HEAD of the resolve URL, without following the redirect: the etag names the blob.
RemoteFile headFile(Http &http, const HubSettings &settings, const RepoId &repo, const std::string &commit,
                    const RepoFile &f)
{
    const std::string resolveUrl = settings.endpoint + "/" + repo.id + "/resolve/" + commit + "/" + urlEncode(f.name);
    Response head = http.withRetries("HEAD", resolveUrl, {}, false);
    if (head.curl != CURLE_OK || (head.status != 200 && (head.status < 300 || head.status > 399)))
        http.fail("the metadata request", resolveUrl, head, repo);
    RemoteFile r;
    r.etag = normalizeEtag(!head.header("x-linked-etag").empty() ? head.header("x-linked-etag") : head.header("etag"));
    if (r.etag.empty())
        r.etag = !f.sha256.empty() ? f.sha256 : f.blobId;
    if (r.etag.empty() || r.etag.find('/') != std::string::npos || r.etag.find("..") != std::string::npos)
        throw HubError(resolveUrl + ": the Hub sent no usable ETag for the file");
    r.size = f.size;
    if (std::string ls = head.header("x-linked-size"); !ls.empty())
        r.size = std::stoll(ls);
    else if (std::string cl = head.header("content-length"); !cl.empty() && head.status == 200)
        r.size = std::stoll(cl);
    if (f.size >= 0 && r.size != f.size)
        throw HubError(resolveUrl + ": the Hub announces " + std::to_string(r.size) + " bytes, its file list " +
                       std::to_string(f.size));
    const std::string location = head.header("location");
    r.downloadUrl = resolveUrl;
    if (head.status >= 300 && !location.empty())
        r.downloadUrl = location.front() == '/' ? settings.endpoint + location : location;
    return r;
}

// A server that ignored the Range answered 200: the partial file holds old bytes, then the
// whole file again. Keeps only the fresh copy (its last `size` bytes); true when it did.
bool keepFreshCopy(const fs::path &partial, int64_t size)
{
    std::error_code ec;
    const int64_t have = int64_t(fs::file_size(partial, ec));
    if (ec || size < 0 || have <= size)
        return false;
    std::ifstream in(partial, std::ios::binary);
    in.seekg(have - size);
    const fs::path fresh = partial.string() + ".fresh";
    std::ofstream o(fresh, std::ios::binary | std::ios::trunc);
    o << in.rdbuf();
    o.close();
    fs::rename(fresh, partial, ec);
    return true;
}

// Downloads `f` into `blob` through blob.incomplete: resumes after what is on disk, checks
// the size and the announced digest (sha256 for LFS files, the git blob id for small
// ones, computed while the bytes arrive), and only then renames it into place.
void downloadBlob(Http &http, const RepoId &repo, const RepoFile &f, const RemoteFile &remote, const fs::path &blob,
                  FetchProgress &progress)
{
    std::error_code ec;
    const fs::path partial = blob.string() + ".incomplete";
    const int64_t size = remote.size;
    std::ofstream sink;
    std::vector<char> sinkBuffer(std::size_t(1) << 20);
    const std::string expectSha = !f.sha256.empty() ? f.sha256 : (remote.etag.size() == 64 ? remote.etag : std::string());
    const std::string expectBlob = expectSha.empty() && size >= 0 ? f.blobId : std::string();
    const EVP_MD *md = !expectSha.empty() ? EVP_sha256() : EVP_sha1();
    const std::string prefix = expectBlob.empty() ? std::string() : "blob " + std::to_string(size) + std::string(1, '\0');
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX *)> digest(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    http.setHash(digest.get());
    int64_t resumeBase = 0;
    bool firstAttempt = true;
    const std::function<bool(int64_t, int64_t)> onBytes = [&](int64_t now, int64_t) {
        return progress.report(f.name, resumeBase + now, size);
    };
    const auto haveOnDisk = [&] { return fs::exists(partial, ec) ? int64_t(fs::file_size(partial, ec)) : int64_t(0); };
    Response get;
    try {
        get = http.withRetries(
            "GET", remote.downloadUrl, {}, true,
            [&](Response *) {
                // (Re)open for each attempt: resume after what is already on disk.
                const int64_t have = haveOnDisk();
                resumeBase = have;
                EVP_DigestInit_ex(digest.get(), md, nullptr);
                EVP_DigestUpdate(digest.get(), prefix.data(), prefix.size());
                if (have > 0)
                    hashExisting(digest.get(), partial.string());
                if (firstAttempt)
                    progress.resumed(have), firstAttempt = false;
                sink.rdbuf()->pubsetbuf(sinkBuffer.data(), std::streamsize(sinkBuffer.size()));
                sink.open(partial, std::ios::binary | std::ios::app);
                return &sink;
            },
            [&]() {
                const int64_t have = haveOnDisk();
                if (have > 0 && (size < 0 || have < size))
                    return std::vector<std::string>{"Range: bytes=" + std::to_string(have) + "-"};
                return std::vector<std::string>{};
            },
            &onBytes);
    } catch (const WriteError &e) {
        http.setHash(nullptr);
        throw HubError(partial.string() + ": cannot write " + f.name + " into the cache: " + e.what() + " (" +
                       std::to_string(haveOnDisk()) + " of " + std::to_string(size) +
                       " bytes are kept; the next pull resumes from there)");
    }
    if (get.curl != CURLE_OK || (get.status != 200 && get.status != 206 && get.status != 416))
        http.fail("the download", remote.downloadUrl, get, repo);
    http.setHash(nullptr);
    const bool rewritten = get.status == 200 && fs::exists(partial, ec) && keepFreshCopy(partial, size);
    const int64_t got = int64_t(fs::file_size(partial, ec));
    if (size >= 0 && got != size) {
        fs::remove(partial, ec);
        throw HubError(remote.downloadUrl + ": received " + std::to_string(got) + " bytes, the Hub announced " +
                       std::to_string(size) + "; the partial file was removed");
    }
    if (!expectSha.empty() || !expectBlob.empty()) {
        const std::string digestHex = rewritten ? fileDigest(partial.string(), md, prefix) : hexOf(digest.get());
        const std::string &want = !expectSha.empty() ? expectSha : expectBlob;
        if (digestHex != lower(want)) {
            fs::remove(partial, ec);
            throw HubError(remote.downloadUrl + ": " + (!expectSha.empty() ? "sha256 " : "git blob id ") + digestHex +
                           " differs from the announced " + want + "; the download was discarded");
        }
    }
    fs::rename(partial, blob, ec);
    if (ec)
        throw HubError(blob.string() + ": cannot move the download into the cache: " + ec.message());
}

// snapshots/COMMIT/NAME -> ../../blobs/ETAG, relative as huggingface_hub makes it (a copy
// where the file system has no symbolic links).
void linkIntoSnapshot(const fs::path &blob, const fs::path &link)
{
    std::error_code ec;
    fs::remove(link, ec);
    fs::create_symlink(fs::relative(blob, link.parent_path()), link, ec);
    if (ec) {
        fs::copy_file(blob, link, fs::copy_options::overwrite_existing, ec);
        if (ec)
            throw HubError(link.string() + ": cannot place the file in the snapshot: " + ec.message());
    }
}

// What is wrong with a file already in the snapshot, "" when nothing: its size against the
// Hub's, then its digest: the git blob id of a small file always (cheap), the sha256 of an
// LFS file when `verifyLarge` (reading it whole).
std::string cachedFileDamage(const fs::path &entry, const RepoFile &f, bool verifyLarge)
{
    std::error_code ec;
    const auto have = fs::file_size(entry, ec);
    if (ec)
        return "cannot be read (" + ec.message() + ")";
    if (f.size >= 0 && int64_t(have) != f.size)
        return std::to_string(have) + " bytes where the Hub announces " + std::to_string(f.size);
    if (f.sha256.empty() && !f.blobId.empty() && f.size >= 0) {
        if (gitBlobId(entry, f.size) != f.blobId)
            return "its git blob id does not match the Hub's";
    } else if (verifyLarge && !f.sha256.empty() && fileDigest(entry.string(), EVP_sha256()) != f.sha256) {
        return "its sha256 does not match the Hub's";
    }
    return {};
}

// Removes a damaged file from the cache: the blob its snapshot link points to, then the link.
void dropFromCache(const fs::path &entry)
{
    std::error_code ec;
    if (fs::is_symlink(entry, ec)) {
        const fs::path blob = fs::weakly_canonical(entry.parent_path() / fs::read_symlink(entry, ec), ec);
        if (!ec)
            fs::remove(blob, ec);
    }
    fs::remove(entry, ec);
    if (ec)
        throw HubError(entry.string() + ": damaged in the cache and cannot be removed: " + ec.message());
}

} // namespace

Snapshot HubClient::fetchModel(const RepoId &repo, const ProgressCallback &progress)
{
    if (m_settings.offline) {
        if (auto cached = cachedModel(repo))
            return Snapshot{*cached, fs::path(*cached).filename().string(), {}, {}, {}};
        throw HubError(repo.id + "@" + repo.revision + ": not in the Hugging Face cache (" + m_settings.cacheDir +
                       ") and HF_HUB_OFFLINE is set");
    }
    const RepoInfo info = repoInfo(repo);
    const std::vector<RepoFile> files = filesForModel(info);
    const fs::path root = fs::path(m_settings.cacheDir) / repo.cacheFolderName();
    const fs::path snap = root / "snapshots" / info.commit;
    std::error_code ec;
    fs::create_directories(root / "blobs", ec);
    fs::create_directories(snap, ec);
    if (ec)
        throw HubError((root / "blobs").string() + ": cannot create the cache folder: " + ec.message());

    Snapshot out;
    out.folder = snap.string();
    out.commit = info.commit;
    out.files = files;
    std::vector<RepoFile> missing;
    int64_t allTotal = 0;
    for (const auto &f : files) {
        const fs::path entry = snap / f.name;
        if (fs::exists(entry, ec)) { // a link whose blob is gone counts as missing
            const std::string damage = cachedFileDamage(entry, f, m_settings.verifyCached);
            if (damage.empty())
                continue;
            out.repaired.push_back(entry.string() + ": " + damage);
            dropFromCache(entry);
        }
        missing.push_back(f);
        allTotal += std::max<int64_t>(0, f.size);
    }
    Http http(m_settings);
    FetchProgress fetchProgress(progress, allTotal);
    for (const auto &f : missing) {
        const RemoteFile remote = headFile(http, m_settings, repo, info.commit, f);
        const fs::path blob = root / "blobs" / remote.etag;
        FileLock lock(fs::path(m_settings.cacheDir) / ".locks" / repo.cacheFolderName() / (remote.etag + ".lock"));
        if (!fs::exists(blob, ec)) {
            downloadBlob(http, repo, f, remote, blob, fetchProgress);
            out.fetched.push_back(f.name);
        }
        fetchProgress.fileDone(remote.size);
        linkIntoSnapshot(blob, snap / f.name);
    }
    if (repo.revision != info.commit) {
        fs::create_directories(root / "refs", ec);
        const fs::path ref = root / "refs" / repo.revision;
        fs::create_directories(ref.parent_path(), ec);
        std::ofstream(ref, std::ios::trunc) << info.commit;
    }
    return out;
}

std::string humanBytes(double bytes)
{
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4)
        bytes /= 1000, ++u;
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

} // namespace vitscope::hub
