// The backend's per-connection protocol: mode line, echo, stream, sink, drain, close.
#include "bench/backend_connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace tlsfront::bench {
namespace {

constexpr uint32_t kMaxModeLine = 128;
constexpr uint32_t kPatternSize = 256 * 1024;

// What STREAM sends: one shared read-only block, sent again and again.
const uint8_t* stream_pattern() {
    static const auto* pattern = [] {
        auto* bytes = new uint8_t[kPatternSize];
        for (uint32_t i = 0; i < kPatternSize; ++i) bytes[i] = static_cast<uint8_t>('A' + i % 26);
        return bytes;
    }();
    return pattern;
}

bool parse_size(std::string_view text, uint64_t& value) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

BackendConnection::BackendConnection(IoRing& ring, BackendCounters& counters, UniqueFd fd,
                                     std::unique_ptr<uint8_t[]> buffer)
    : ring_(ring), counters_(counters), fd_(std::move(fd)), buffer_(std::move(buffer)) {}

void BackendConnection::receive() {
    io_uring_sqe* sqe = ring_.next_sqe();
    // While choosing, a little room stays free: PING puts 6 bytes in front of what followed its line.
    uint32_t offset = mode_ == Mode::choosing ? filled_ : 0;
    uint32_t capacity = mode_ == Mode::choosing ? kBufferSize - 8 - filled_ : kBufferSize;
    io_uring_prep_recv(sqe, fd_.get(), buffer_.get() + offset, capacity, 0);
    io_uring_sqe_set_data64(sqe, make_user_data(this, BenchOp::recv));
    ++pending_ops_;
}

void BackendConnection::send(const uint8_t* data, uint32_t length) {
    send_data_ = data;
    send_length_ = length;
    send_offset_ = 0;
    io_uring_sqe* sqe = ring_.next_sqe();
    io_uring_prep_send(sqe, fd_.get(), data, length, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, make_user_data(this, BenchOp::send));
    ++pending_ops_;
}

void BackendConnection::on_completion(BenchOp op, int result) {
    --pending_ops_;
    if (mode_ == Mode::closed) {
        if (pending_ops_ == 0) fd_.reset();
        return;
    }
    if (op == BenchOp::recv) on_received(result);
    else if (op == BenchOp::send) on_sent(result);
}

void BackendConnection::close() {
    if (mode_ == Mode::closed) return;
    mode_ = Mode::closed;
    if (pending_ops_ > 0) ring_.cancel_all_on(fd_.get());  // the fd closes when they are back
    else fd_.reset();
}

void BackendConnection::on_received(int result) {
    if (result <= 0) return close();  // EOF (or reset): the client is done
    auto n = static_cast<uint32_t>(result);
    counters_.bytes_in += n;
    switch (mode_) {
    case Mode::choosing: {
        filled_ += n;
        auto* newline = static_cast<uint8_t*>(std::memchr(buffer_.get(), '\n', std::min(filled_, kMaxModeLine)));
        if (newline) return choose_mode(static_cast<uint32_t>(newline - buffer_.get()));
        if (filled_ >= kMaxModeLine) return refuse("ERR expected ECHO, PING, STREAM n or SINK n\r\n");
        return receive();
    }
    case Mode::echo: return send(buffer_.get(), n);
    case Mode::sink:
        if (n > remaining_) return refuse("ERR more bytes than announced\r\n");
        remaining_ -= n;
        if (remaining_ > 0) return receive();
        return send_sink_reply();
    default: return receive();  // draining
    }
}

void BackendConnection::choose_mode(uint32_t line_end) {
    std::string_view line(reinterpret_cast<const char*>(buffer_.get()), line_end);
    if (line.ends_with('\r')) line.remove_suffix(1);
    uint8_t* rest = buffer_.get() + line_end + 1;
    uint32_t rest_length = filled_ - line_end - 1;
    uint64_t size = 0;
    if (line == "ECHO") {
        mode_ = Mode::echo;
        if (rest_length == 0) return receive();
        std::memmove(buffer_.get(), rest, rest_length);
        return send(buffer_.get(), rest_length);
    }
    if (line == "PING") {
        mode_ = Mode::echo;
        std::memmove(buffer_.get() + 6, rest, rest_length);  // whatever followed is echoed after PONG
        std::memcpy(buffer_.get(), "PONG\r\n", 6);
        return send(buffer_.get(), 6 + rest_length);
    }
    if (line.starts_with("STREAM ") && parse_size(line.substr(7), size)) {
        mode_ = Mode::stream;
        remaining_ = size;
        return send_stream_chunk();
    }
    if (line.starts_with("SINK ") && parse_size(line.substr(5), size)) {
        mode_ = Mode::sink;
        remaining_ = sink_total_ = size;
        if (rest_length > remaining_) return refuse("ERR more bytes than announced\r\n");
        remaining_ -= rest_length;
        if (remaining_ > 0) return receive();
        return send_sink_reply();
    }
    refuse("ERR expected ECHO, PING, STREAM n or SINK n\r\n");
}

void BackendConnection::send_stream_chunk() {
    if (remaining_ == 0) {  // all sent: EOF toward the client, then wait for its EOF
        ::shutdown(fd_.get(), SHUT_WR);
        mode_ = Mode::draining;
        return receive();
    }
    auto chunk = static_cast<uint32_t>(std::min<uint64_t>(remaining_, kPatternSize));
    remaining_ -= chunk;
    send(stream_pattern(), chunk);
}

// "OK <sink_total>\r\n", built in the connection's own buffer (the sink's bytes are not kept).
void BackendConnection::send_sink_reply() {
    int length = snprintf(reinterpret_cast<char*>(buffer_.get()), kBufferSize, "OK %llu\r\n",
                          static_cast<unsigned long long>(sink_total_));
    mode_ = Mode::draining;
    send(buffer_.get(), static_cast<uint32_t>(length));
}

void BackendConnection::refuse(const char* line) {
    ++counters_.protocol_errors;
    mode_ = Mode::refusing;
    auto length = static_cast<uint32_t>(std::strlen(line));
    std::memcpy(buffer_.get(), line, length);
    send(buffer_.get(), length);
}

void BackendConnection::on_sent(int result) {
    if (result < 0) return close();
    auto n = static_cast<uint32_t>(result);
    counters_.bytes_out += n;
    send_offset_ += n;
    if (send_offset_ < send_length_) {  // a short send: the rest, from where it stopped
        io_uring_sqe* sqe = ring_.next_sqe();
        io_uring_prep_send(sqe, fd_.get(), send_data_ + send_offset_, send_length_ - send_offset_, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, make_user_data(this, BenchOp::send));
        ++pending_ops_;
        return;
    }
    switch (mode_) {
    case Mode::stream: return send_stream_chunk();
    case Mode::refusing: return close();
    default: return receive();  // echo: the next bytes; draining: until EOF
    }
}

}  // namespace tlsfront::bench
