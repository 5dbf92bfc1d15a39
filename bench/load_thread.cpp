// The load thread's event loop: dispatch completions, restart slots, tick, stop, abort.
#include "bench/load_thread.hpp"

#include "bench/client_connection.hpp"
#include "bench/clock.hpp"
#include "bench/session.hpp"

namespace tlsfront::bench {
namespace {

constexpr uint64_t kTickNs = 100 * kNanosPerMilli;
// After an abort, how long cancelled requests may take to come back before the thread gives up
// on them (the ring's teardown cancels whatever is left).
constexpr uint64_t kAbortWaitNs = 2 * kNanosPerSecond;
constexpr unsigned kSubmissionEntries = 4096;
constexpr unsigned kCompletionEntries = 16384;

}  // namespace

TlsClientSettings tls_settings_for(const LoadOptions& options) {
    TlsClientSettings settings;
    settings.sni = options.sni;
    settings.alpn = options.alpn;
    settings.cafile = options.cafile;
    settings.version = options.tls_version;
    settings.resumption = options.scenario == Scenario::resume;
    return settings;
}

LoadThread::LoadThread(const LoadOptions& options, RunControl& control, unsigned index, unsigned slot_count)
    : options_(options), control_(control), index_(index), slot_count_(slot_count),
      timeout_ns_(seconds_to_ns(options.timeout_s)) {}

LoadThread::~LoadThread() {
    ring_.reset();
    slots_.clear();
}

void LoadThread::run(std::promise<std::string> started) {
    try {
        ring_ = std::make_unique<IoRing>(kSubmissionEntries, kCompletionEntries);
        tls_ = std::make_unique<TlsClientContext>(tls_settings_for(options_));
        scratch_ = std::make_unique_for_overwrite<uint8_t[]>(kScratchSize);
        BufferSizes sizes = buffer_sizes_for(options_.scenario);
        slots_.reserve(slot_count_);
        for (unsigned i = 0; i < slot_count_; ++i) {
            slots_.push_back(std::make_unique<ClientConnection>(*this, make_session(options_), sizes));
            ready_.push_back(slots_.back().get());
        }
    } catch (const std::exception& e) {
        started.set_value(e.what());
        control_.thread_exited();
        return;
    }
    started.set_value("");
    try {
        loop();
    } catch (const std::exception& e) {  // the ring failed: what was open cannot finish
        abandon(e.what());
    }
    ring_.reset();  // on this thread, which the single-issuer ring belongs to
    control_.thread_exited();
}

void LoadThread::loop() {
    uint64_t next_tick = monotonic_ns() + kTickNs;
    uint64_t abort_deadline = 0;
    start_ready_slots();
    while (work_remains()) {
        ring_->run_once(kTickNs, [this](const io_uring_cqe& cqe) {
            BenchOp op = op_of<BenchOp>(cqe.user_data);
            if (op == BenchOp::ignore) return;
            auto* slot = object_of<ClientConnection>(cqe.user_data);
            slot->on_completion(op, cqe.res);
            settle(*slot);
        });
        uint64_t now = monotonic_ns();
        if (now >= next_tick) {
            next_tick = now + kTickNs;
            tick(now);
        }
        if (control_.aborted()) {
            if (abort_deadline == 0) {
                abort_all();
                abort_deadline = now + kAbortWaitNs;
            } else if (now >= abort_deadline) {
                break;
            }
        }
        start_ready_slots();
    }
}

void LoadThread::start_ready_slots() {
    while (!ready_.empty() && opening_ < kMaxOpening) {
        ClientConnection* slot = ready_.front();
        ready_.pop_front();
        if (control_.aborted() || !slot->start()) continue;  // the slot retires
        ++active_;
        settle(*slot);  // a connection that failed before its connect was submitted
    }
}

// Called after anything that may have ended the slot's connection.
void LoadThread::settle(ClientConnection& slot) {
    if (!slot.idle()) return;
    ClientConnection::Outcome outcome = slot.take_outcome();
    if (outcome == ClientConnection::Outcome::none) return;
    --active_;
    if (control_.aborted()) return;
    if (outcome == ClientConnection::Outcome::succeeded) ready_.push_back(&slot);
    else backoff_.push_back(&slot);
}

void LoadThread::tick(uint64_t now_ns) {
    for (auto& slot : slots_) {
        if (slot->idle()) continue;
        slot->on_tick(now_ns);
        settle(*slot);
    }
    ready_.insert(ready_.end(), backoff_.begin(), backoff_.end());
    backoff_.clear();
}

void LoadThread::abort_all() {
    ready_.clear();
    backoff_.clear();
    for (auto& slot : slots_) {
        if (slot->idle()) continue;
        slot->abort("still open when the time cap was reached");
        settle(*slot);
    }
}

void LoadThread::abandon(const std::string& why) {
    for (auto& slot : slots_) {
        if (slot->idle()) continue;
        ThreadCounters::add(counters().errors);
        results_.errors.add(ErrorKind::unfinished, why);
    }
}

}  // namespace tlsfront::bench
