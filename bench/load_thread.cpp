// The load thread's event loop: dispatch completions, restart slots, tick, stop, abort.
#include "bench/load_thread.hpp"

#include <algorithm>

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
      timeout_ns_(seconds_to_ns(options.timeout_s)) {
    if (options.rate > 0) {  // thread t of T: R/T per second, t/T of an interval behind thread 0
        arrivals_.emplace(options.rate / options.threads, static_cast<double>(index) / options.threads);
        arrival_opens_connection_ = unit_is_connection(options.scenario);
    }
}

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
    uint64_t now = loop_started_ns_ = monotonic_ns();
    uint64_t next_tick = now + kTickNs;
    uint64_t abort_deadline = 0;
    if (arrivals_) run_arrivals(now);
    if (!arrival_opens_connection_) start_ready_slots();
    while (work_remains()) {
        ring_->run_once(wait_ns(next_tick), [this](const io_uring_cqe& cqe) {
            BenchOp op = op_of<BenchOp>(cqe.user_data);
            if (op == BenchOp::ignore) return;
            auto* slot = object_of<ClientConnection>(cqe.user_data);
            slot->on_completion(op, cqe.res);
            settle(*slot);
        });
        now = monotonic_ns();
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
        if (arrivals_) run_arrivals(now);
        if (!arrival_opens_connection_) start_ready_slots();
    }
}

bool LoadThread::work_remains() const {
    if (arrival_opens_connection_) return active_ > 0 || arrivals_->open() || arrivals_->queued() > 0;
    return active_ > 0 || !ready_.empty() || !backoff_.empty();
}

// Until the next tick, or the next arrival if that comes first.
uint64_t LoadThread::wait_ns(uint64_t next_tick_ns) const {
    uint64_t until = next_tick_ns;
    if (arrivals_ && arrivals_->open() && arrivals_->started()) until = std::min(until, arrivals_->next_due_ns());
    uint64_t now = monotonic_ns();
    return until > now ? until - now : 0;
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
    if (arrivals_) {
        drop_queued_arrivals("scheduled, but every connection was still busy when the time cap was reached");
        arrivals_->close();
        waiting_.clear();  // their connections are aborted below
    }
    for (auto& slot : slots_) {
        if (slot->idle()) continue;
        slot->abort("still open when the time cap was reached");
        settle(*slot);
    }
}

void LoadThread::abandon(const std::string& why) {
    if (arrivals_) drop_queued_arrivals(why.c_str());
    for (auto& slot : slots_) {
        if (slot->idle()) continue;
        ThreadCounters::add(counters().errors);
        results_.errors.add(ErrorKind::unfinished, why);
    }
}

}  // namespace tlsfront::bench
