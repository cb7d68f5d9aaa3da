#pragma once
// "Newest request wins" on a worker thread, as Qt's Mandelbrot example restarts its
// render: at most one job runs at a time; requests made while it runs collapse into one
// waiting request, started as soon as the running job ends; a finished job's result is
// delivered only when no request (or invalidate()) came after it started. A slider
// dragged faster than the model answers thus shows its newest position, and nothing
// queues. Every view that computes off the GUI thread on each change uses this one
// helper rather than a generation counter of its own.
//
// Threading: request(), invalidate() and both callbacks run on the GUI thread; the task
// runs on Qt's global thread pool and must touch no widget (capture plain data by value,
// return plain data, catch its own exceptions into the result). The destructor waits
// for a running task.

#include <QFutureWatcher>
#include <QObject>
#include <QtConcurrent/QtConcurrentRun>

#include <functional>
#include <utility>

namespace vitscope::gui {

template <typename Result>
class NewestRequestWins {
public:
    using Task = std::function<Result()>;

    // `prepare` is called when a job starts: it reads the current request and returns the
    // work, or an empty Task when there is nothing to compute. `deliver` receives the
    // result of a job that is still the newest. `context` (the owning view) must outlive
    // this object.
    NewestRequestWins(QObject *context, std::function<Task()> prepare, std::function<void(const Result &)> deliver)
        : m_prepare(std::move(prepare)), m_deliver(std::move(deliver))
    {
        QObject::connect(&m_watcher, &QFutureWatcher<Result>::finished, context, [this] { finished(); });
    }
    ~NewestRequestWins() { m_watcher.waitForFinished(); }
    NewestRequestWins(const NewestRequestWins &) = delete;
    NewestRequestWins &operator=(const NewestRequestWins &) = delete;

    // Asks for a job with the current inputs: now, or when the running one ends.
    void request()
    {
        ++m_generation;
        if (m_running) {
            m_pending = true;
            return;
        }
        start();
    }
    // The running job's result will not be delivered (the inputs were cleared).
    void invalidate()
    {
        ++m_generation;
        m_pending = false;
    }
    // A job is running or waiting to start.
    bool isBusy() const { return m_running || m_pending; }
    // Jobs started so far (for tests and benchmarks).
    quint64 started() const { return m_startedCount; }

private:
    void start()
    {
        m_pending = false;
        Task task = m_prepare();
        if (!task)
            return;
        m_startedGeneration = m_generation;
        m_running = true;
        ++m_startedCount;
        m_watcher.setFuture(QtConcurrent::run(std::move(task)));
    }
    void finished()
    {
        m_running = false;
        const bool current = m_startedGeneration == m_generation;
        if (current)
            m_deliver(m_watcher.result());
        if (m_pending)
            start();
    }

    std::function<Task()> m_prepare;
    std::function<void(const Result &)> m_deliver;
    QFutureWatcher<Result> m_watcher;
    quint64 m_generation = 0, m_startedGeneration = 0, m_startedCount = 0;
    bool m_running = false; // from start() until finished() ran (the future may be done earlier)
    bool m_pending = false;
};

} // namespace vitscope::gui
