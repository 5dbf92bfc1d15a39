// The load thread's open-loop side (--rate): arrivals become due on the thread's ArrivalSchedule,
// each claims a unit from the budget and goes to a free slot (a new connection: handshake, resume,
// imap) or to a connection waiting for its next request (pingpong). An arrival that finds neither
// queues and is counted late; it starts as soon as something frees up, and its latencies still
// run from its scheduled time, so a slow server cannot hide its backlog (no coordinated omission).
#include "bench/client_connection.hpp"
#include "bench/clock.hpp"
#include "bench/load_thread.hpp"

namespace tlsfront::bench {

void LoadThread::run_arrivals(uint64_t now_ns) {
    ArrivalSchedule& arrivals = *arrivals_;
    if (arrivals.open() && (control_.stopping() || !control_.work_left())) arrivals.close();
    // pingpong: the schedule starts once the thread's connections are open (or after --timeout,
    // should some never open), so the first requests do not wait for handshakes
    if (arrivals.open() && !arrivals.started() &&
        (arrival_opens_connection_ || (opening_ == 0 && ready_.empty()) || now_ns - loop_started_ns_ >= timeout_ns_))
        arrivals.begin(now_ns);
    while (arrivals.due(now_ns)) {
        if (!control_.claim_unit()) {
            arrivals.close();
            break;
        }
        arrivals.append();
        ThreadCounters::add(counters().arrivals);
        dispatch_arrivals();
        if (arrivals.queued() > 0) ThreadCounters::add(counters().late);  // the queue is FIFO: it is this one
    }
    if (arrivals.open() && !control_.work_left()) arrivals.close();  // budget spent: no need to wait for the next
    dispatch_arrivals();
    if (!arrivals.open() && arrivals.queued() == 0 && !waiting_.empty()) finish_waiting();
}

void LoadThread::dispatch_arrivals() {
    while (arrivals_->queued() > 0 && !control_.aborted()) {
        if (arrival_opens_connection_) {
            if (ready_.empty() || opening_ >= kMaxOpening) return;
            ClientConnection* slot = ready_.front();
            ready_.pop_front();
            slot->start(pop_arrival());
            ++active_;
            settle(*slot);  // a connection that failed before its connect was submitted
        } else {
            if (waiting_.empty()) return;
            ClientConnection* slot = waiting_.front();
            waiting_.pop_front();
            if (!slot->awaiting_arrival()) continue;  // failed (and maybe reconnected) since it asked
            slot->deliver_arrival(pop_arrival());
            settle(*slot);
        }
    }
}

ArrivalOffer LoadThread::offer_arrival(ClientConnection& connection) {
    if (arrivals_->queued() > 0 && !control_.aborted()) return {ArrivalOffer::Kind::now, pop_arrival()};
    if (!arrivals_->open()) return {ArrivalOffer::Kind::over};
    waiting_.push_back(&connection);
    return {ArrivalOffer::Kind::later};
}

uint64_t LoadThread::pop_arrival() {
    uint64_t scheduled = arrivals_->pop();
    uint64_t now = monotonic_ns();
    results_.start_delay.record(now > scheduled ? now - scheduled : 0);
    return scheduled;
}

// No arrivals left: the connections waiting for one close.
void LoadThread::finish_waiting() {
    std::deque<ClientConnection*> waiting;
    waiting.swap(waiting_);
    for (ClientConnection* slot : waiting) {
        slot->deliver_arrival(std::nullopt);
        settle(*slot);
    }
}

// Arrivals that never started count as errors: the load asked for was not delivered.
void LoadThread::drop_queued_arrivals(const char* why) {
    uint64_t dropped = arrivals_->drop_queued();
    if (dropped == 0) return;
    ThreadCounters::add(counters().errors, dropped);
    results_.errors.add(ErrorKind::unfinished, std::string("arrivals: ") + why, dropped);
}

}  // namespace tlsfront::bench
