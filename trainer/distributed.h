#pragma once
// Data-parallel training across processes and machines through LibTorch's c10d:
// ProcessGroupGloo on the CPU, ProcessGroupNCCL where the LibTorch has it, over a
// TCPStore. The launch conventions are PyTorch's:
//   torchrun   RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; with
//              TORCHELASTIC_USE_AGENT_STORE=True the agent hosts the store and every rank
//              is a client under /worker/attempt_<TORCHELASTIC_RESTART_COUNT>
//   Slurm      SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (MASTER_ADDR from the sbatch script)
//   plain      RANK and WORLD_SIZE set by hand (or by vitscope-cli --nproc-per-node)
// Without any of these a run is one process and no process group exists (Group::single).
//
// Faults: every collective has the group's timeout; when one fails (a rank died, hung, or
// the network went), the survivors ask the store which rank stopped sending heartbeats
// and throw a vitscope::Error naming it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/error.h"

namespace vitscope::train {

struct LaunchEnv {
    int rank = 0;
    int worldSize = 1;
    int localRank = 0;
    int localWorldSize = 1;
    std::string masterAddr = "127.0.0.1";
    int masterPort = 29500;
    std::string launcher = "none"; // none, torchrun, slurm, env
    bool agentStore = false;       // torchrun's agent hosts the store: every rank is a client
    std::string storePrefix;       // key prefix in the store (torchrun: /worker/attempt_N)

    bool distributed() const { return launcher != "none"; }
    // Reads the environment; vitscope::Error with one line for a malformed or inconsistent
    // setting (RANK >= WORLD_SIZE, a port that is not a number, MASTER_ADDR missing, ...).
    static LaunchEnv fromEnvironment();
};

// The process-group backends this build has: "gloo" and/or "nccl".
std::vector<std::string> distributedBackends();

struct GroupOptions {
    std::string backend = "auto";          // auto (NCCL for CUDA where built, else Gloo), gloo, nccl
    std::chrono::milliseconds timeout{std::chrono::seconds(300)}; // rendezvous and every collective
    torch::Device device = torch::kCPU;    // where the tensors of the collectives live
};

// Communication statistics of one process (for the metrics and docs/distributed.md).
struct CommStats {
    int64_t gradientReductions = 0; // steps whose gradients were averaged
    double gradientSeconds = 0;     // wall time in those averages (flatten, all-reduce, copy back)
    double gradientMegabytes = 0;   // bytes all-reduced, MB (1e6)
};

class Group {
public:
    virtual ~Group() = default;
    // One process: every operation is the identity (no c10d, no threads, no store).
    static std::shared_ptr<Group> single();
    // Joins the process group described by `env` (rendezvous within options.timeout).
    static std::shared_ptr<Group> connect(const LaunchEnv &env, const GroupOptions &options);
    // connect() when the environment describes a distributed launch, single() otherwise.
    static std::shared_ptr<Group> fromEnvironment(const GroupOptions &options);

    int rank() const { return m_rank; }
    int size() const { return m_size; }
    bool lead() const { return m_rank == 0; }
    virtual std::string backend() const { return "none"; }
    const LaunchEnv &env() const { return m_env; }

    // In place: every rank ends with rank `root`'s values.
    virtual void broadcast(std::vector<torch::Tensor> tensors, int root = 0);
    // In place: the element-wise sum over ranks.
    virtual void allReduceSum(std::vector<torch::Tensor> tensors);
    // In place: the element-wise maximum over ranks.
    virtual void allReduceMax(std::vector<torch::Tensor> tensors);
    // Rank r's `local` (same shape on every rank) stacked along dim 0 in rank order.
    virtual torch::Tensor allGather(const torch::Tensor &local);
    virtual void barrier();

    // The average of every parameter's gradient over ranks, all-reduced in buckets of about
    // `bucketBytes`, the parameters taken in the given order on every rank; a parameter
    // without a gradient contributes zeros (and gets the average when another rank had one;
    // one that no rank has a gradient for keeps none, so the optimizer skips it as it would
    // in one process).
    void averageGradients(const std::vector<torch::Tensor> &params, int64_t bucketBytes = 25 << 20);
    // all-gather whose backward pass sums the gradients of every rank's copy and returns
    // this rank's slice (open_clip's gather_with_grad): the loss of every rank flows back
    // into the features that made it.
    torch::Tensor allGatherWithGrad(const torch::Tensor &local);

    // The training step this rank is at, published with the heartbeats.
    void setProgress(int64_t step) { m_progress = step; }
    const CommStats &stats() const { return m_stats; }

    // After a collective failed with `what`: a message that names the rank(s) that stopped
    // (dead, hung or behind), found from the store's heartbeats. May take a few seconds.
    virtual std::string diagnose(const std::string &what) { return what; }

protected:
    Group() = default;
    int m_rank = 0;
    int m_size = 1;
    LaunchEnv m_env;
    std::atomic<int64_t> m_progress{0};
    CommStats m_stats;
};

// Runs `fn` and turns a failed collective (c10::Error or std::runtime_error from the
// process group) into a vitscope::Error naming the rank that stopped.
std::string describeCollectiveFailure(Group &group, const std::exception &e, const char *during);
template <class F> auto collective(Group &group, const char *during, F &&fn) -> decltype(fn())
{
    try {
        return fn();
    } catch (const std::exception &e) {
        throw Error(describeCollectiveFailure(group, e, during));
    }
}

} // namespace vitscope::train
