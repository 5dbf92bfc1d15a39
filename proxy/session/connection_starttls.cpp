// STARTTLS listeners: tlsfront's own plaintext dialogue before TLS, and the backend's greeting
// after it. Injection safety (CVE-2011-0411 and kin): nothing the client sends before TLS reaches
// the backend, and bytes it sends after the STARTTLS line but before its handshake are dropped
// (counted in starttls_discarded), never read as commands. The one exception is SMTP optional,
// where a client that never asks for TLS gets a plaintext session: its HELO/EHLO is replayed to
// the backend and the rest of its bytes are relayed as sent.
#include <cstring>
#include <string>

#include "proxy/common/log.hpp"
#include "proxy/protocol/backend_greeting.hpp"
#include "proxy/protocol/protocol_refusal.hpp"
#include "proxy/session/connection.hpp"
#include "proxy/session/listener_metrics.hpp"
#include "proxy/session/starttls_phase.hpp"
#include "proxy/session/worker.hpp"

namespace tlsfront {
namespace {

CloseReason close_reason_of(PreTlsEnd end) {
    switch (end) {
    case PreTlsEnd::line_too_long: return CloseReason::starttls_line_too_long;
    case PreTlsEnd::too_many_commands: return CloseReason::starttls_too_many_commands;
    case PreTlsEnd::quit:
    case PreTlsEnd::none: break;
    }
    return CloseReason::starttls_quit;
}

}  // namespace

void Connection::begin_starttls() {
    state_ = State::starttls;
    starttls_ = std::make_unique<StartTlsPhase>(*listener_.config);
    write_to_client(starttls_->dialogue.greeting());
    flush_to_client();
}

void Connection::read_pre_tls(const uint8_t* data, uint32_t size) {
    std::string reply;
    PreTlsStep step = starttls_->dialogue.read({data, size}, reply);
    write_to_client(reply);  // small and bounded: at most kMaxCommands replies
    flush_to_client();
    switch (step.outcome) {
    case PreTlsOutcome::need_more:
        release_client_input();
        return arm_client_receive();
    case PreTlsOutcome::close:
        release_client_input();
        return close_after_flush(close_reason_of(step.end), nullptr);
    case PreTlsOutcome::start_tls:
        // The reply goes out first, in plaintext, from the same block the handshake writes into.
        starttls_discarded_ = static_cast<uint32_t>(size - step.consumed);
        release_client_input();
        if (!start_tls_session()) return;
        state_ = State::handshake;
        restart_phase_clock();
        return arm_client_receive();
    case PreTlsOutcome::plaintext:
        starttls_->forward = starttls_->dialogue.first_command();
        starttls_->forward.append(reinterpret_cast<const char*>(data) + step.consumed, size - step.consumed);
        release_client_input();
        set(plaintext);
        restart_phase_clock();
        DeadlineList::remove(*this);
        state_ = State::connecting;
        return connect_backend();
    }
}

void Connection::on_starttls_deadline() {
    write_to_client(starttls_timeout_line(listener_.config->protocol));
    close_after_flush(CloseReason::starttls_timeout, nullptr);
}

// Connected: the PROXY header first (the backend will not greet before it), then its greeting.
// connect_timeout bounds the wait for the greeting too.
void Connection::begin_backend_greeting() {
    state_ = State::greeting;
    use_.connect_deadlines.arm(*this, worker_.now_ms());
    arm_backend_receive();
    if (listener_.config->proxy_protocol != ProxyProtocolVersion::off) send_proxy_header();
}

void Connection::read_backend_greeting(const uint8_t* data, uint32_t size) {
    StartTlsPhase& phase = *starttls_;
    phase.backend_reply.append(reinterpret_cast<const char*>(data), size);
    release_backend_input();
    while (true) {
        std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(phase.backend_reply.data()),
                                       phase.backend_reply.size());
        BackendReplyScan scan = phase.awaiting_helo_reply ? scan_smtp_reply(bytes)
                                                          : scan_backend_greeting(listener_.config->protocol, bytes);
        if (scan.status == BackendReplyStatus::incomplete) return arm_backend_receive();
        if (scan.status == BackendReplyStatus::refused) return refuse_backend(scan.error);
        phase.backend_reply.erase(0, scan.consumed);
        if (!has(plaintext) || phase.awaiting_helo_reply) break;
        // SMTP plaintext: the backend must hear the client's HELO/EHLO before its next command.
        phase.awaiting_helo_reply = true;
        queue_to_backend(phase.dialogue.helo_line());
        if (phase.backend_reply.empty()) return arm_backend_receive();
    }
    std::string leftover = std::move(phase.backend_reply);
    finish_backend_greeting(leftover);
}

// The greeting is swallowed: the relay starts, with what the client sent meanwhile.
void Connection::finish_backend_greeting(std::string_view leftover) {
    std::string forward = std::move(starttls_->forward);
    starttls_.reset();
    state_ = State::relaying;
    take_over_records();
    use_.idle_deadlines.arm(*this, worker_.now_ms());
    if (!forward.empty()) {
        bytes_in_ += forward.size();
        metrics_.bytes_from_client.add(forward.size());
        queue_to_backend(forward);
    }
    if (!leftover.empty()) {  // the backend spoke before being asked: pass it on as the relay would
        write_to_client(leftover);
        bytes_out_ += leftover.size();
        metrics_.bytes_to_client.add(leftover.size());
        flush_to_client();
    }
    if (state_ != State::relaying) return;
    arm_backend_receive();
    pump_client_to_backend();
}

void Connection::queue_to_backend(std::string_view bytes) {
    if (!backend_out_) {
        backend_out_ = worker_.send_buffers().acquire();
        backend_out_len_ = backend_sent_ = 0;
    }
    size_t room = worker_.send_buffers().block_size() - backend_out_len_;
    if (bytes.size() > room) return close(CloseReason::client_error, "too much data before the session began");
    std::memcpy(backend_out_ + backend_out_len_, bytes.data(), bytes.size());
    backend_out_len_ += static_cast<uint32_t>(bytes.size());
    flush_to_backend();
}

// A backend that greets with an error (or closes, or says nothing within connect_timeout) is as
// good as unreachable: the client gets the same refusal, in its protocol.
void Connection::refuse_backend(const char* error) {
    LogLine(LogLevel::warn, "backend_refused")
        .hex_field("conn", id_)
        .field("listener", listener_.config->name)
        .field("backend", listener_.config->backend.to_string())
        .field("error", error);
    release_client_input();
    end_with_line(backend_unavailable_line(listener_.config->protocol), CloseReason::backend_refused, error);
}

}  // namespace tlsfront
