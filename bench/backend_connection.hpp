// BackendConnection: one plaintext connection of `tlsfront-bench backend`, the fixture behind the
// proxy in the synthetic scenarios. The client's first line picks the mode:
//   ECHO\r\n      echo every byte until EOF
//   PING\r\n      answer PONG\r\n, then echo
//   STREAM n\r\n  send n bytes, then shut the write side (the proxy turns that into close_notify)
//   SINK n\r\n    read n bytes, answer OK n\r\n
// then it reads until EOF and closes. One request in flight at a time (receive, then send what it
// calls for, then receive again) in one fixed 64 KiB buffer: the fixture should be simple and cheap,
// not clever.
#pragma once

#include <cstdint>
#include <memory>

#include "bench/bench_op.hpp"
#include "proxy/net/io_ring.hpp"
#include "proxy/net/unique_fd.hpp"

namespace tlsfront::bench {

struct BackendCounters {
    uint64_t accepted = 0;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    uint64_t protocol_errors = 0;  // unknown mode, over-long first line, more than SINK n bytes
};

// 16-byte aligned: the low four bits of its address carry the BenchOp in io_uring user_data.
class alignas(16) BackendConnection {
public:
    static constexpr uint32_t kBufferSize = 64 * 1024;

    BackendConnection(IoRing& ring, BackendCounters& counters, UniqueFd fd, std::unique_ptr<uint8_t[]> buffer);
    BackendConnection(const BackendConnection&) = delete;
    BackendConnection& operator=(const BackendConnection&) = delete;

    void start() { receive(); }
    void on_completion(BenchOp op, int result);
    // Closed and nothing in flight: the thread may free it.
    bool finished() const { return mode_ == Mode::closed && pending_ops_ == 0; }
    // The buffer goes back to the thread's free list when the connection is freed.
    std::unique_ptr<uint8_t[]> take_buffer() { return std::move(buffer_); }
    // Stop: drop the connection now (pending requests are cancelled).
    void close();

    uint32_t table_slot = 0;  // index in the thread's connection table

private:
    // draining: the mode's work is done, reading (and dropping) until the client's EOF.
    // refusing: an ERR line is going out, then close.
    enum class Mode : uint8_t { choosing, echo, stream, sink, draining, refusing, closed };

    void on_received(int result);
    void on_sent(int result);
    void choose_mode(uint32_t line_end);
    void send(const uint8_t* data, uint32_t length);
    void send_stream_chunk();
    void send_sink_reply();
    void refuse(const char* line);
    void receive();

    IoRing& ring_;
    BackendCounters& counters_;
    UniqueFd fd_;
    std::unique_ptr<uint8_t[]> buffer_;
    Mode mode_ = Mode::choosing;
    uint8_t pending_ops_ = 0;
    uint32_t filled_ = 0;  // choosing: bytes of the first line so far
    const uint8_t* send_data_ = nullptr;
    uint32_t send_length_ = 0;
    uint32_t send_offset_ = 0;
    uint64_t remaining_ = 0;  // stream: bytes still to send; sink: bytes still to read
    uint64_t sink_total_ = 0;
};

}  // namespace tlsfront::bench
