#include "trainer/distributed.h"

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <sstream>
#include <thread>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// Gloo needs its own headers (Debian: libgloo-dev); a LibTorch whose package lacks them
// (some PyTorch wheels) builds with NCCL alone.
#if defined(USE_C10D_GLOO) && __has_include(<gloo/algorithm.h>)
#define VITSCOPE_HAVE_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#else
#define VITSCOPE_HAVE_GLOO 0
#endif
// NCCL likewise needs nccl.h, which a PyTorch wheel keeps in its nvidia-nccl package
// (tests/gpu/build.sh adds that folder).
#if defined(USE_C10D_NCCL) && __has_include(<nccl.h>)
#define VITSCOPE_HAVE_NCCL 1
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#else
#define VITSCOPE_HAVE_NCCL 0
#endif

#include "models/error.h"

// glog's threshold, when LibTorch logs through glog (Debian's does): c10d logs every failed
// bind and connect attempt on stderr before throwing, and the error that follows says it in
// one line. Weak: a LibTorch without glog leaves it unresolved (null).
namespace fLI {
extern __attribute__((weak)) int FLAGS_minloglevel;
}

namespace vitscope::train {

namespace {

// Quiets c10d's own log (warnings and errors; GLOG_minloglevel set by the user wins).
void quietC10dLog()
{
    if (&fLI::FLAGS_minloglevel != nullptr && !std::getenv("GLOG_minloglevel"))
        fLI::FLAGS_minloglevel = 3; // FATAL only
}

const char *getEnv(const char *name)
{
    const char *v = std::getenv(name);
    return v && *v ? v : nullptr;
}

int envInt(const char *name, int fallback, bool required = false)
{
    const char *v = getEnv(name);
    if (!v) {
        if (required)
            throw Error(std::string(name) + " is not set");
        return fallback;
    }
    char *end = nullptr;
    const long x = std::strtol(v, &end, 10);
    // Slurm writes counts per node as "2(x3)": the leading number is the one of this node.
    if (end == v || x < 0 || x > 1 << 30 || (*end && *end != '('))
        throw Error(std::string(name) + "=\"" + v + "\" is not a non-negative integer");
    return int(x);
}

std::string firstLine(const std::string &s)
{
    const auto nl = s.find('\n');
    return nl == std::string::npos ? s : s.substr(0, nl);
}

bool isLoopback(const std::string &addr)
{
    return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

std::vector<uint8_t> bytesOf(const std::string &s)
{
    return {s.begin(), s.end()};
}

} // namespace

LaunchEnv LaunchEnv::fromEnvironment()
{
    LaunchEnv e;
    if (getEnv("RANK") || getEnv("WORLD_SIZE")) {
        e.launcher = getEnv("TORCHELASTIC_RUN_ID") ? "torchrun" : "env";
        e.rank = envInt("RANK", 0, true);
        e.worldSize = envInt("WORLD_SIZE", 1, true);
        e.localRank = envInt("LOCAL_RANK", e.rank);
        e.localWorldSize = envInt("LOCAL_WORLD_SIZE", e.worldSize);
        const std::string agent = getEnv("TORCHELASTIC_USE_AGENT_STORE") ? getEnv("TORCHELASTIC_USE_AGENT_STORE") : "";
        e.agentStore = agent == "True" || agent == "true" || agent == "1";
        if (e.agentStore)
            e.storePrefix = "/worker/attempt_" + std::to_string(envInt("TORCHELASTIC_RESTART_COUNT", 0));
    } else if (getEnv("SLURM_PROCID") && getEnv("SLURM_NTASKS") && envInt("SLURM_NTASKS", 1) > 1) {
        e.launcher = "slurm";
        e.rank = envInt("SLURM_PROCID", 0, true);
        e.worldSize = envInt("SLURM_NTASKS", 1, true);
        e.localRank = envInt("SLURM_LOCALID", 0);
        e.localWorldSize = envInt("SLURM_NTASKS_PER_NODE", envInt("SLURM_TASKS_PER_NODE", 1));
        if (!getEnv("MASTER_ADDR"))
            throw Error("under Slurm set MASTER_ADDR to the first node of the job (the sbatch script in "
                        "docs/distributed.md does: scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)");
    } else {
        return e;
    }
    if (e.worldSize < 1)
        throw Error("WORLD_SIZE must be at least 1, got " + std::to_string(e.worldSize));
    if (e.rank >= e.worldSize)
        throw Error("RANK " + std::to_string(e.rank) + " is not below WORLD_SIZE " + std::to_string(e.worldSize));
    if (e.localRank >= std::max(e.localWorldSize, 1))
        e.localWorldSize = e.localRank + 1;
    if (const char *a = getEnv("MASTER_ADDR"))
        e.masterAddr = a;
    else if (e.worldSize > 1)
        throw Error("MASTER_ADDR is not set (the address of rank 0, or of torchrun's agent)");
    e.masterPort = envInt("MASTER_PORT", 29500, e.worldSize > 1 && e.launcher != "slurm"); // Slurm: 29500 unless set
    if (e.masterPort < 1 || e.masterPort > 65535)
        throw Error("MASTER_PORT " + std::to_string(e.masterPort) + " is not a TCP port (1 to 65535)");
    return e;
}

std::vector<std::string> distributedBackends()
{
    std::vector<std::string> out;
    if (VITSCOPE_HAVE_GLOO)
        out.push_back("gloo");
#if VITSCOPE_HAVE_NCCL
    out.push_back("nccl");
#endif
    return out;
}

// ---------------------------------------------------------------- one process

std::shared_ptr<Group> Group::single()
{
    struct Single : Group {};
    return std::make_shared<Single>();
}

void Group::broadcast(std::vector<torch::Tensor>, int) {}
void Group::allReduceSum(std::vector<torch::Tensor>) {}
void Group::allReduceMax(std::vector<torch::Tensor>) {}
torch::Tensor Group::allGather(const torch::Tensor &local)
{
    return local;
}
void Group::barrier() {}

void Group::averageGradients(const std::vector<torch::Tensor> &params, int64_t bucketBytes)
{
    if (m_size == 1)
        return;
    const auto started = std::chrono::steady_clock::now();
    torch::NoGradGuard noGrad;
    std::size_t i = 0;
    double bytes = 0;
    while (i < params.size()) {
        // A bucket: consecutive parameters of one dtype and device, about bucketBytes.
        const auto options = params[i].options();
        std::size_t j = i;
        int64_t elements = 0;
        while (j < params.size() && params[j].dtype() == options.dtype() && params[j].device() == options.device() &&
               (j == i || (elements + params[j].numel()) * int64_t(params[j].element_size()) <= bucketBytes)) {
            elements += params[j].numel();
            ++j;
        }
        // The bucket, then one flag per parameter: 1 where this rank has its gradient. A
        // parameter no rank has a gradient for keeps none (AdamW skips it, as in one process).
        const int64_t count = int64_t(j - i);
        auto flat = torch::empty({elements + count}, options.requires_grad(false));
        int64_t offset = 0;
        for (std::size_t k = i; k < j; ++k) {
            auto slot = flat.narrow(0, offset, params[k].numel());
            const auto &g = params[k].grad();
            if (g.defined())
                slot.copy_(g.reshape(-1));
            else
                slot.zero_();
            flat[elements + int64_t(k - i)] = g.defined() ? 1.0 : 0.0;
            offset += params[k].numel();
        }
        collective(*this, "averaging the gradients", [&] { allReduceSum({flat}); });
        const auto had = flat.narrow(0, elements, count).to(torch::kCPU);
        flat.div_(double(m_size));
        offset = 0;
        for (std::size_t k = i; k < j; ++k) {
            auto slice = flat.narrow(0, offset, params[k].numel()).view(params[k].sizes());
            auto p = params[k];
            offset += params[k].numel();
            if (had[int64_t(k - i)].item<double>() == 0)
                continue;
            if (p.grad().defined())
                p.mutable_grad().copy_(slice);
            else
                p.mutable_grad() = slice.clone();
        }
        bytes += double(elements) * double(flat.element_size());
        i = j;
    }
    ++m_stats.gradientReductions;
    m_stats.gradientMegabytes += bytes / 1e6;
    m_stats.gradientSeconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

namespace {

struct GatherWithGrad : torch::autograd::Function<GatherWithGrad> {
    static torch::Tensor forward(torch::autograd::AutogradContext *ctx, torch::Tensor local, int64_t group)
    {
        ctx->saved_data["group"] = group;
        ctx->saved_data["rows"] = local.size(0);
        auto *g = reinterpret_cast<Group *>(group);
        return collective(*g, "gathering the features", [&] { return g->allGather(local); });
    }
    static torch::autograd::variable_list backward(torch::autograd::AutogradContext *ctx,
                                                   torch::autograd::variable_list grads)
    {
        auto *g = reinterpret_cast<Group *>(ctx->saved_data["group"].toInt());
        const int64_t rows = ctx->saved_data["rows"].toInt();
        auto grad = grads[0].contiguous().clone();
        collective(*g, "summing the feature gradients", [&] { g->allReduceSum({grad}); });
        return {grad.narrow(0, int64_t(g->rank()) * rows, rows), torch::Tensor()};
    }
};

} // namespace

torch::Tensor Group::allGatherWithGrad(const torch::Tensor &local)
{
    if (m_size == 1)
        return local;
    return GatherWithGrad::apply(local, reinterpret_cast<int64_t>(this));
}

std::string describeCollectiveFailure(Group &group, const std::exception &e, const char *during)
{
    if (dynamic_cast<const Error *>(&e))
        return e.what(); // already described by an inner collective
    return "rank " + std::to_string(group.rank()) + ": " + group.diagnose(firstLine(e.what())) + " (while " + during +
           ")";
}

// ---------------------------------------------------------------- c10d

namespace {

using StorePtr = c10::intrusive_ptr<c10d::Store>;

StorePtr openStore(const LaunchEnv &e, bool server, std::chrono::milliseconds timeout, bool waitWorkers)
{
    c10d::TCPStoreOptions o;
    o.port = uint16_t(e.masterPort);
    o.isServer = server;
    o.numWorkers = waitWorkers ? c10::optional<std::size_t>(std::size_t(e.worldSize)) : c10::nullopt; // counts itself in
    o.waitWorkers = waitWorkers; // every rank adds itself to the count; the server waits for all
    o.timeout = timeout;
    StorePtr store = c10::make_intrusive<c10d::TCPStore>(e.masterAddr, o);
    if (!e.storePrefix.empty())
        store = c10::make_intrusive<c10d::PrefixStore>(e.storePrefix, store);
    return store;
}

template <class PG> class C10dGroup : public Group {
public:
    // `device`: where the backend needs its tensors (NCCL: the rank's GPU); tensors elsewhere
    // (the loop's small CPU values) are staged through it.
    C10dGroup(const LaunchEnv &e, StorePtr store, c10::intrusive_ptr<PG> pg, std::string backend,
              std::chrono::milliseconds timeout, torch::Device device = torch::kCPU)
        : m_store(std::move(store)), m_pg(std::move(pg)), m_backend(std::move(backend)), m_timeout(timeout),
          m_device(device)
    {
        m_rank = e.rank;
        m_size = e.worldSize;
        m_env = e;
        m_heartbeat = std::thread([this] { beat(); });
    }
    ~C10dGroup() override
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_stopping = true;
        }
        m_cv.notify_all();
        m_heartbeat.join();
    }

    std::string backend() const override { return m_backend; }

    void broadcast(std::vector<torch::Tensor> tensors, int root) override
    {
        c10d::BroadcastOptions o;
        o.rootRank = root;
        for (auto &t : tensors) {
            std::vector<at::Tensor> one{staged(t)};
            m_pg->broadcast(one, o)->wait();
            unstage(t, one[0]);
        }
    }
    void allReduceSum(std::vector<torch::Tensor> tensors) override { reduce(tensors, c10d::ReduceOp::SUM); }
    void allReduceMax(std::vector<torch::Tensor> tensors) override { reduce(tensors, c10d::ReduceOp::MAX); }
    torch::Tensor allGather(const torch::Tensor &local) override
    {
        std::vector<at::Tensor> in{staged(local.contiguous())};
        std::vector<std::vector<at::Tensor>> out(1);
        for (int r = 0; r < m_size; ++r)
            out[0].push_back(torch::empty_like(in[0]));
        m_pg->allgather(out, in)->wait();
        return torch::cat(out[0], 0).to(local.device());
    }
    void barrier() override { m_pg->barrier()->wait(); }

    std::string diagnose(const std::string &what) override
    {
        // Two readings of every rank's heartbeat, 2.5 s apart: a rank whose counter did not
        // move has died or is stopped; one far behind in steps is stuck.
        StorePtr probe;
        try {
            LaunchEnv e = m_env;
            probe = openStore(e, false, std::chrono::seconds(3), false);
        } catch (const std::exception &) {
            return what + "; the rendezvous store at " + m_env.masterAddr + ":" + std::to_string(m_env.masterPort) +
                   " is gone too" + (m_env.agentStore ? " (torchrun's agent)" : ": rank 0, which hosts it, has stopped");
        }
        auto read = [&](int r) -> std::pair<int64_t, int64_t> {
            const std::string key = "vitscope/heartbeat/" + std::to_string(r);
            try {
                if (!probe->check({key}))
                    return {-1, -1};
                const auto value = probe->get(key);
                std::istringstream in(std::string(value.begin(), value.end()));
                int64_t count = -1, step = -1;
                in >> count >> step;
                return {count, step};
            } catch (const std::exception &) {
                return {-1, -1};
            }
        };
        std::vector<std::pair<int64_t, int64_t>> first(static_cast<std::size_t>(m_size)), second(static_cast<std::size_t>(m_size));
        for (int r = 0; r < m_size; ++r)
            first[std::size_t(r)] = read(r);
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        for (int r = 0; r < m_size; ++r)
            second[std::size_t(r)] = read(r);
        std::string dead, behind;
        for (int r = 0; r < m_size; ++r) {
            if (r == m_rank)
                continue;
            const auto &a = first[std::size_t(r)], &b = second[std::size_t(r)];
            if (b.first < 0 || a.first == b.first)
                dead += (dead.empty() ? "" : ", ") + std::to_string(r) +
                        (b.second >= 0 ? " (last at step " + std::to_string(b.second) + ")" : "");
            else if (b.second < m_progress.load())
                behind += (behind.empty() ? "" : ", ") + std::to_string(r) + " (at step " + std::to_string(b.second) + ")";
        }
        if (!dead.empty())
            return "rank " + dead + " stopped responding: its process died or hung (" + what + ")";
        if (!behind.empty())
            return "rank " + behind + " is alive but did not reach step " + std::to_string(m_progress.load()) + " (" +
                   what + ")";
        return what;
    }

private:
    void reduce(std::vector<torch::Tensor> &tensors, c10d::ReduceOp op)
    {
        c10d::AllreduceOptions o;
        o.reduceOp = op;
        for (auto &t : tensors) {
            std::vector<at::Tensor> one{staged(t)};
            m_pg->allreduce(one, o)->wait();
            unstage(t, one[0]);
        }
    }

    at::Tensor staged(const at::Tensor &t) const { return t.device() == m_device || m_device.is_cpu() ? t : t.to(m_device); }
    static void unstage(at::Tensor &t, const at::Tensor &used)
    {
        if (!used.is_same(t))
            t.copy_(used);
    }

    // A separate store connection, so a collective blocked in the main thread does not
    // stop the heartbeats.
    void beat()
    {
        StorePtr store;
        try {
            store = openStore(m_env, false, std::chrono::seconds(5), false);
        } catch (const std::exception &) {
            return;
        }
        const std::string key = "vitscope/heartbeat/" + std::to_string(m_rank);
        int64_t count = 0;
        std::unique_lock<std::mutex> lock(m_mutex);
        while (!m_stopping) {
            lock.unlock();
            try {
                store->set(key, bytesOf(std::to_string(++count) + " " + std::to_string(m_progress.load())));
            } catch (const std::exception &) {
                // The store is gone (rank 0 ended): nothing to report to any more.
                lock.lock();
                return;
            }
            lock.lock();
            m_cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return m_stopping; });
        }
    }

    StorePtr m_store;
    c10::intrusive_ptr<PG> m_pg;
    std::string m_backend;
    std::chrono::milliseconds m_timeout;
    torch::Device m_device;
    std::thread m_heartbeat;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    bool m_stopping = false;
};

std::string seconds(std::chrono::milliseconds t)
{
    std::ostringstream s;
    s << double(t.count()) / 1000.0 << " s";
    return s.str();
}

} // namespace

std::shared_ptr<Group> Group::connect(const LaunchEnv &e, const GroupOptions &options)
{
    std::string backend = options.backend;
    if (backend == "auto")
        backend = options.device.is_cuda() ? "nccl" : "gloo";
#if !VITSCOPE_HAVE_NCCL
    if (backend == "nccl") {
        if (options.backend == "nccl")
            throw Error("this LibTorch was built without NCCL: use --dist-backend gloo");
        backend = "gloo";
    }
#endif
    if (backend != "gloo" && backend != "nccl")
        throw Error("unknown process-group backend \"" + backend + "\" (auto, gloo or nccl)");
    quietC10dLog();
    const std::string where = e.masterAddr + ":" + std::to_string(e.masterPort);
    const bool server = !e.agentStore && e.rank == 0;
    StorePtr store;
    try {
        store = openStore(e, server, options.timeout, true);
    } catch (const std::exception &x) {
        const std::string m = firstLine(x.what());
        if (server && (m.find("in use") != std::string::npos || m.find("EADDRINUSE") != std::string::npos))
            throw Error("rank 0 cannot host the rendezvous store: port " + std::to_string(e.masterPort) +
                        " is in use (MASTER_PORT); pick a free port");
        if (server)
            throw Error("only some of the " + std::to_string(e.worldSize) + " ranks (WORLD_SIZE) joined the store at " +
                        where + " within " + seconds(options.timeout) +
                        ": check WORLD_SIZE and that every rank was started (" + m + ")");
        throw Error("rank " + std::to_string(e.rank) + " cannot reach the rendezvous store at " + where + " within " +
                    seconds(options.timeout) + " (MASTER_ADDR / MASTER_PORT; is rank 0 running?): " + m);
    }
    // With "auto", rank 0's choice holds for all: a rank that does not know the run's device
    // yet (resuming: only rank 0 reads the run folder) must not pick another backend.
    if (options.backend == "auto") {
        try {
            if (e.rank == 0)
                store->set("vitscope/backend", bytesOf(backend));
            else {
                const auto chosen = store->get("vitscope/backend");
                backend.assign(chosen.begin(), chosen.end());
            }
        } catch (const std::exception &x) {
            throw Error("rank " + std::to_string(e.rank) + " did not learn rank 0's backend from the store at " + where +
                        " within " + seconds(options.timeout) + ": " + firstLine(x.what()));
        }
    }
#if !VITSCOPE_HAVE_GLOO
    if (backend == "gloo")
        throw Error("this build has no Gloo (its LibTorch or the gloo headers were missing at build time): "
                    "use --dist-backend nccl on GPUs");
#endif
    try {
#if VITSCOPE_HAVE_GLOO
        if (backend == "gloo") {
            auto o = c10d::ProcessGroupGloo::Options::create(options.timeout);
            if (const char *ifname = getEnv("GLOO_SOCKET_IFNAME"))
                o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
            else if (isLoopback(e.masterAddr))
                o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
            else
                o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
            auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, e.rank, e.worldSize, o);
            auto g = std::make_shared<C10dGroup<c10d::ProcessGroupGloo>>(e, store, pg, "gloo", options.timeout);
            g->barrier(); // every rank is in before the first real collective
            return g;
        }
#endif
#if VITSCOPE_HAVE_NCCL
        // One GPU per rank of a node, the same choice as TrainingSkeleton's.
        torch::Device device = options.device;
        if (!device.is_cuda() || !device.has_index())
            device = torch::Device(torch::kCUDA, torch::DeviceIndex(e.localRank % std::max<int64_t>(1, int64_t(torch::cuda::device_count()))));
        c10::cuda::set_device(device.index());
        auto o = c10d::ProcessGroupNCCL::Options::create();
        o->timeout = options.timeout;
        auto pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, e.rank, e.worldSize, o);
        auto g = std::make_shared<C10dGroup<c10d::ProcessGroupNCCL>>(e, store, pg, "nccl", options.timeout, device);
        auto probe = torch::ones({1}, torch::TensorOptions().device(device));
        g->allReduceSum({probe}); // NCCL forms its communicator on the first collective
        return g;
#else
        throw Error("unreachable");
#endif
    } catch (const Error &) {
        throw;
    } catch (const std::exception &x) {
        throw Error("the " + backend + " process group of " + std::to_string(e.worldSize) +
                    " ranks (WORLD_SIZE) did not form within " + seconds(options.timeout) + " at " + where +
                    ": check that every rank was started with the same WORLD_SIZE (" + firstLine(x.what()) + ")");
    }
}

std::shared_ptr<Group> Group::fromEnvironment(const GroupOptions &options)
{
    const LaunchEnv e = LaunchEnv::fromEnvironment();
    if (!e.distributed())
        return single();
    return connect(e, options);
}

} // namespace vitscope::train
