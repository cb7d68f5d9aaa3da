#pragma once
// The Hugging Face Hub client (vitscope_hub: libcurl and OpenSSL's hashes; no LibTorch, no
// Qt). It resolves `org/name[@revision]` to a local folder in huggingface_hub's cache, so
// what transformers or huggingface_hub downloaded is reused and what vitscope downloads
// they reuse:
//   $HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub)
//     models--ORG--NAME/refs/REVISION            the commit a branch or tag points to
//     models--ORG--NAME/blobs/ETAG               file contents (sha256 for LFS files)
//     models--ORG--NAME/snapshots/COMMIT/FILE    relative links to ../../blobs/ETAG
// Environment, as huggingface_hub reads it: HF_ENDPOINT, HF_TOKEN (else $HF_HOME/token),
// HF_HUB_OFFLINE, HF_HUB_CACHE, HF_HOME.
//
// A file already in the cache is checked before it is trusted: its size against the Hub's
// (a truncated blob), the git blob id of a small file, and with `verifyCached` (`pull
// --verify`) the sha256 of a large one; a damaged file, or a snapshot link whose blob is
// gone, is removed and fetched again, and Snapshot::repaired says what was wrong.
//
// The repository's file list comes from the Hub API, so the files a model needs are
// picked from what exists (model.safetensors before pytorch_model.bin, sharded indexes,
// the tokenizer files). Downloads go to blobs/ETAG.incomplete, resume with Range after an
// interruption, and enter the cache only once their size (and, for LFS files, sha256)
// match what the Hub announced; nothing half-written is ever under snapshots/.
// Retries: 429 (after Retry-After) and 5xx / connection failures, with backoff, a bounded
// number of times. The token goes to the endpoint's host only, never to the storage host a
// download is redirected to.
//
// Errors: vitscope::hub::HubError with one line naming the repository, file or URL and
// what went wrong. Thread-safety: one HubClient per thread; the cache may be shared.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/hub/hub_types.h"

namespace vitscope::hub {

// The files of `info` a vitscope model needs: config.json (or open_clip_config.json), one
// weights format (safetensors first; sharded indexes with their shards), and
// preprocessor_config.json, vocab.json, merges.txt, tokenizer files when present.
std::vector<RepoFile> filesForModel(const RepoInfo &info);

struct Snapshot {
    std::string folder;               // .../snapshots/COMMIT
    std::string commit;
    std::vector<RepoFile> files;
    std::vector<std::string> fetched; // files downloaded now (the rest came from the cache)
    std::vector<std::string> repaired; // "PATH: what was wrong" for damaged cache files fetched again
};

class HubClient {
public:
    explicit HubClient(HubSettings settings = HubSettings::fromEnvironment());

    const HubSettings &settings() const { return m_settings; }

    // The commit and file list of a repository at a revision (GET /api/models/ID/revision/REV).
    RepoInfo repoInfo(const RepoId &repo);

    // Makes the files a model needs present in the cache and returns their snapshot folder.
    // Offline, it is answered from the cache alone.
    Snapshot fetchModel(const RepoId &repo, const ProgressCallback &progress = {});

    // The snapshot folder from the cache alone; nullopt when the revision or a needed file
    // is not there. Offline, the needed files are also checked against their blobs' names
    // (the git blob id of a small file; with verifyCached the sha256 of a large one), and a
    // damaged one throws HubError naming it: it cannot be fetched again, and is never loaded.
    // (A truncated large blob passes without verifyCached; the loader then names the file.)
    std::optional<std::string> cachedModel(const RepoId &repo) const;

private:
    HubSettings m_settings;
};

// "1.2 MB", "3.4 GB"
std::string humanBytes(double bytes);

} // namespace vitscope::hub
