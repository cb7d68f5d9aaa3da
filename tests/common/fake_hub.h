#pragma once
// A loopback server that answers as the Hugging Face Hub does, for the Hub client's tests
// (Debian's cpp-httplib). Two hosts: the endpoint on 127.0.0.1 (API, resolve URLs) and a
// storage host on 127.0.0.2 that LFS downloads are redirected to, as the Hub redirects to
// its CDN.
//   GET  /api/models/ORG/NAME/revision/REV          -> {"sha", "siblings": [...]} (401 RepoNotFound,
//                                                      404 RevisionNotFound)
//   HEAD|GET /ORG/NAME/resolve/REV/FILE              -> LFS: 302 to the storage host with
//                                                      X-Linked-Etag / X-Linked-Size; small files:
//                                                      200 with ETag; X-Repo-Commit always;
//                                                      404 EntryNotFound
//   GET  (storage) /blobs/SHA256                      -> the bytes; Range -> 206
// Faults on demand: 5xx or 429 for the next N requests, a download cut halfway, wrong bytes.
// Every loop here is bounded; the servers stop in the destructor.
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <openssl/evp.h>

namespace vitscope::test {

inline std::string digestHex(const std::string &data, const EVP_MD *md)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
    std::string hex;
    char two[3];
    for (unsigned int i = 0; i < len; ++i) {
        std::snprintf(two, sizeof two, "%02x", out[i]);
        hex += two;
    }
    return hex;
}

class FakeHub {
public:
    struct File {
        std::string content;
        bool lfs = false;
        std::string sha256, blobId; // computed once, when added
    };
    static constexpr const char *kCommit = "4f1b2c3d4e5f60718293a4b5c6d7e8f901234567";

    FakeHub()
    {
        m_apiPort = m_api.bind_to_any_port("127.0.0.1");
        m_cdnPort = m_cdn.bind_to_any_port("127.0.0.2");
        m_api.Get(R"(/api/models/([^/]+)/([^/]+)/revision/([^/?]+))", [this](const auto &req, auto &res) { apiInfo(req, res); });
        m_api.Get(R"(/([^/]+)/([^/]+)/resolve/([^/]+)/(.+))", [this](const auto &req, auto &res) { resolve(req, res); });
        m_cdn.Get(R"(/blobs/([0-9a-f]+))", [this](const auto &req, auto &res) { blob(req, res); });
        m_apiThread = std::thread([this] { m_api.listen_after_bind(); });
        m_cdnThread = std::thread([this] { m_cdn.listen_after_bind(); });
        for (int i = 0; i < 500 && !(m_api.is_running() && m_cdn.is_running()); ++i) // at most 5 s
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ~FakeHub()
    {
        m_api.stop();
        m_cdn.stop();
        m_apiThread.join();
        m_cdnThread.join();
    }

    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(m_apiPort); }
    void addFile(const std::string &repo, const std::string &name, std::string content, bool lfs)
    {
        File f;
        f.sha256 = digestHex(content, EVP_sha256());
        f.blobId = gitBlobId(content);
        f.content = std::move(content);
        f.lfs = lfs;
        std::lock_guard<std::mutex> g(m_mutex);
        m_repos[repo][name] = std::move(f);
    }
    void gate(const std::string &repo) { m_gated = repo; }

    // Faults for the next requests.
    std::atomic<int> serverErrors{0};   // 503 for the next N requests to either host
    std::atomic<int> rateLimits{0};     // 429 with Retry-After: 0
    std::atomic<int> cutDownloads{0};   // the next N blob downloads stop halfway
    std::atomic<bool> wrongBytes{false}; // blobs served with one byte changed
    std::atomic<int> chunkDelayMs{0};    // blobs served chunkBytes at a time, with this pause between
    std::atomic<int> chunkBytes{16 * 1024};

    // What was seen.
    std::atomic<int> blobBodies{0};     // blob GETs that sent bytes
    std::atomic<int> rangeRequests{0};
    std::atomic<int> smallBodies{0};    // non-LFS file GETs
    std::vector<std::string> apiAuth, cdnAuth; // Authorization headers seen per host (guarded)
    std::mutex seen;

private:
    bool fault(httplib::Response &res)
    {
        if (serverErrors > 0) {
            --serverErrors;
            res.status = 503;
            return true;
        }
        if (rateLimits > 0) {
            --rateLimits;
            res.status = 429;
            res.set_header("Retry-After", "0");
            return true;
        }
        return false;
    }
    void note(std::vector<std::string> &where, const httplib::Request &req)
    {
        std::lock_guard<std::mutex> g(seen);
        where.push_back(req.get_header_value("Authorization"));
    }
    const std::map<std::string, File> *repoOf(const std::string &id, httplib::Response &res)
    {
        auto it = m_repos.find(id);
        if (it == m_repos.end() || id == m_gated) {
            res.status = id == m_gated ? 403 : 401;
            res.set_header("X-Error-Code", id == m_gated ? "GatedRepo" : "RepoNotFound");
            return nullptr;
        }
        return &it->second;
    }
    bool revisionOk(const std::string &rev, httplib::Response &res)
    {
        if (rev == "main" || rev == kCommit)
            return true;
        res.status = 404;
        res.set_header("X-Error-Code", "RevisionNotFound");
        return false;
    }

    void apiInfo(const httplib::Request &req, httplib::Response &res)
    {
        note(apiAuth, req);
        if (fault(res))
            return;
        std::lock_guard<std::mutex> g(m_mutex);
        const std::string id = req.matches[1].str() + "/" + req.matches[2].str();
        const auto *files = repoOf(id, res);
        if (!files || !revisionOk(req.matches[3].str(), res))
            return;
        std::string body = std::string("{\"id\":\"") + id + "\",\"sha\":\"" + kCommit + "\",\"siblings\":[";
        bool first = true;
        for (const auto &[name, f] : *files) {
            body += first ? "" : ",";
            first = false;
            body += "{\"rfilename\":\"" + name + "\",\"size\":" + std::to_string(f.content.size()) + ",\"blobId\":\"" +
                    f.blobId + "\"";
            if (f.lfs)
                body += ",\"lfs\":{\"sha256\":\"" + f.sha256 + "\",\"size\":" +
                        std::to_string(f.content.size()) + ",\"pointerSize\":134}";
            body += "}";
        }
        body += "]}";
        res.set_content(body, "application/json");
    }

    static std::string gitBlobId(const std::string &content)
    {
        return digestHex("blob " + std::to_string(content.size()) + std::string(1, '\0') + content, EVP_sha1());
    }

    void resolve(const httplib::Request &req, httplib::Response &res)
    {
        note(apiAuth, req);
        if (fault(res))
            return;
        std::lock_guard<std::mutex> g(m_mutex);
        const std::string id = req.matches[1].str() + "/" + req.matches[2].str();
        const auto *files = repoOf(id, res);
        if (!files || !revisionOk(req.matches[3].str(), res))
            return;
        res.set_header("X-Repo-Commit", kCommit);
        auto it = files->find(req.matches[4].str());
        if (it == files->end()) {
            res.status = 404;
            res.set_header("X-Error-Code", "EntryNotFound");
            return;
        }
        const File &f = it->second;
        if (f.lfs) {
            const std::string &sha = f.sha256;
            if (!m_blobs.count(sha))
                m_blobs[sha] = f.content;
            res.status = 302;
            res.set_header("Location", "http://127.0.0.2:" + std::to_string(m_cdnPort) + "/blobs/" + sha);
            res.set_header("X-Linked-Etag", "\"" + sha + "\"");
            res.set_header("X-Linked-Size", std::to_string(f.content.size()));
            return;
        }
        res.set_header("ETag", "\"" + f.blobId + "\"");
        if (req.method == "GET")
            ++smallBodies;
        res.set_content(f.content, "application/octet-stream");
    }

    void blob(const httplib::Request &req, httplib::Response &res)
    {
        note(cdnAuth, req);
        if (fault(res))
            return;
        std::string content;
        {
            std::lock_guard<std::mutex> g(m_mutex);
            auto it = m_blobs.find(req.matches[1].str());
            if (it == m_blobs.end()) {
                res.status = 404;
                return;
            }
            content = it->second;
        }
        if (wrongBytes)
            content[content.size() / 2] ^= 0x5a;
        if (req.has_header("Range"))
            ++rangeRequests;
        const bool cut = cutDownloads > 0 && !req.has_header("Range");
        if (cut)
            --cutDownloads;
        ++blobBodies;
        auto data = std::make_shared<std::string>(std::move(content));
        const int delay = chunkDelayMs, chunk = chunkBytes;
        res.set_content_provider(data->size(), "application/octet-stream",
                                 [data, cut, delay, chunk](std::size_t offset, std::size_t length, httplib::DataSink &sink) {
                                     if (cut) {
                                         // Half the bytes, then the connection drops.
                                         sink.write(data->data() + offset, std::min(length, data->size() / 2));
                                         return false;
                                     }
                                     if (delay > 0) { // a slow link: a chunk, then a pause
                                         length = std::min<std::size_t>(length, std::size_t(chunk));
                                         std::this_thread::sleep_for(std::chrono::milliseconds(delay));
                                     }
                                     sink.write(data->data() + offset, length);
                                     return true;
                                 });
    }

    httplib::Server m_api, m_cdn;
    int m_apiPort = 0, m_cdnPort = 0;
    std::thread m_apiThread, m_cdnThread;
    std::mutex m_mutex;
    std::map<std::string, std::map<std::string, File>> m_repos;
    std::map<std::string, std::string> m_blobs;
    std::string m_gated;
};

} // namespace vitscope::test
