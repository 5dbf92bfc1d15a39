// LoadThread: one thread of the load generator. It owns one io_uring, one TLS client context, its
// share of the client slots and their buffers; nothing on its data path is shared with the other
// threads (progress counters are per thread, the work budget is one relaxed atomic).
// Slots that end a connection start the next one at once; slots that failed wait for the next
// tick (so a proxy that refuses connections does not turn the run into a busy loop); at most
// kMaxOpening connections per thread are in connect or handshake at a time, like a client
// population arriving rather than a SYN flood.
// With --rate (open loop) the thread's ArrivalSchedule decides when a unit starts: an arrival
// takes a free slot (handshake, resume, imap: a new connection) or a connection waiting for its
// next request (pingpong); when there is none it queues and is counted late.
#pragma once

#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "bench/arrival_schedule.hpp"
#include "bench/bench_op.hpp"
#include "proxy/net/io_ring.hpp"
#include "bench/options.hpp"
#include "bench/run_control.hpp"
#include "bench/tls_client.hpp"

namespace tlsfront::bench {

class ClientConnection;

TlsClientSettings tls_settings_for(const LoadOptions& options);

class LoadThread {
public:
    LoadThread(const LoadOptions& options, RunControl& control, unsigned index, unsigned slot_count);
    ~LoadThread();
    LoadThread(const LoadThread&) = delete;
    LoadThread& operator=(const LoadThread&) = delete;

    // Thread body. `started` gets "" once the ring and the slots are set up, or why they are not.
    // Returns when the work is done (budget spent or the run stopped) or the run was aborted.
    void run(std::promise<std::string> started);
    // After run() returned.
    const ThreadResults& final_results() const { return results_; }

    // For the connections.
    IoRing& ring() { return *ring_; }
    const TlsClientContext& tls() const { return *tls_; }
    RunControl& control() { return control_; }
    ThreadCounters& counters() { return control_.counters(index_); }
    ThreadResults& results() { return results_; }
    const LoadOptions& options() const { return options_; }
    std::span<uint8_t> plaintext_scratch() { return {scratch_.get(), kScratchSize}; }
    uint64_t timeout_ns() const { return timeout_ns_; }
    void note_opening(int delta) { opening_ += delta; }
    // --rate: a connection ready for its next unit (pingpong); see ClientConnection::await_arrival.
    ArrivalOffer offer_arrival(ClientConnection& connection);

private:
    static constexpr int kMaxOpening = 256;
    static constexpr size_t kScratchSize = 16384;  // one TLS record of plaintext

    void loop();
    void start_ready_slots();
    void settle(ClientConnection& slot);
    void tick(uint64_t now_ns);
    void abort_all();
    void abandon(const std::string& why);
    bool work_remains() const;
    uint64_t wait_ns(uint64_t next_tick_ns) const;
    // --rate (arrivals_ set):
    void run_arrivals(uint64_t now_ns);
    void dispatch_arrivals();
    uint64_t pop_arrival();
    void finish_waiting();
    void drop_queued_arrivals(const char* why);

    const LoadOptions& options_;
    RunControl& control_;
    unsigned index_;
    unsigned slot_count_;
    uint64_t timeout_ns_;
    ThreadResults results_;
    std::unique_ptr<TlsClientContext> tls_;
    std::unique_ptr<uint8_t[]> scratch_;  // decrypted bytes, handed to a session and forgotten
    std::vector<std::unique_ptr<ClientConnection>> slots_;
    std::deque<ClientConnection*> ready_;      // to start as soon as the opening limit allows
    std::vector<ClientConnection*> backoff_;   // failed: restarted at the next tick
    unsigned active_ = 0;                      // slots with a connection open or being released
    int opening_ = 0;                          // slots in connect or handshake
    std::optional<ArrivalSchedule> arrivals_;  // --rate only
    bool arrival_opens_connection_ = false;    // --rate: handshake, resume, imap
    std::deque<ClientConnection*> waiting_;    // --rate, pingpong: connections awaiting an arrival (FIFO)
    uint64_t loop_started_ns_ = 0;
    // Declared last, destroyed first: no request may outlive the slot buffers it points into.
    std::unique_ptr<IoRing> ring_;
};

}  // namespace tlsfront::bench
