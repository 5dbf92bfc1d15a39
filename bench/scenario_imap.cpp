// imap: a mail-client-shaped session against a real IMAP server behind the proxy, one per unit:
//   greeting, a LOGIN, b SELECT INBOX, c FETCH 1 (BODY[]), d LOGOUT, close_notify.
// Each command's latency runs from sealing it to its tagged OK, the greeting's from the end of the
// handshake (the proxy connects to the server only then), each into its own histogram (and the
// four commands also into the aggregate one); the session time from the connect (--rate: from the
// arrival's scheduled time) to LOGOUT's OK. A NO or BAD fails the connection and stops the run: repeating a refused login
// only measures the server's auth-failure delay (Dovecot slows down failing logins on purpose).
#include <algorithm>
#include <array>
#include <string>

#include "bench/client_connection.hpp"
#include "bench/clock.hpp"
#include "bench/imap_response_reader.hpp"
#include "bench/session.hpp"

namespace tlsfront::bench {
namespace {

class ImapSession final : public Session {
public:
    explicit ImapSession(const LoadOptions& options)
        : commands_{"a LOGIN \"" + options.user + "\" \"" + options.password + "\"\r\n", "b SELECT INBOX\r\n",
                    "c FETCH 1 (BODY[])\r\n", "d LOGOUT\r\n"} {}

    bool start_connection(RunControl& control) override { return control.claim_unit(); }

    void on_established(ClientConnection&) override {
        step_ = ImapStep::greeting;
        command_sent_ns_ = monotonic_ns();  // the greeting is timed like a command
        reader_.reset();
        out_ = {};
    }

    void on_received(ClientConnection& connection, std::span<const uint8_t> plaintext) override {
        auto status = reader_.feed(plaintext, [&](std::string_view line) { return on_line(connection, line); });
        if (status == ImapResponseReader::Status::line_too_long)
            connection.fail(ErrorKind::protocol, "IMAP response line longer than 4 KiB");
    }

    void on_peer_closed(ClientConnection& connection) override {
        connection.fail(ErrorKind::closed_early, std::string("the proxy closed the connection during ") +
                                                     step_name(step_));
    }

    std::span<const uint8_t> pending_output() override { return out_; }
    void output_taken(ClientConnection&, size_t bytes) override { out_ = out_.subspan(bytes); }

private:
    using Step = ImapStep;

    static const char* step_name(Step step) {
        static constexpr std::array<const char*, 5> names{"the greeting", "LOGIN", "SELECT", "FETCH", "LOGOUT"};
        return names[static_cast<size_t>(step)];
    }

    // Returns false once the session has finished or failed: the rest of the input is not ours.
    bool on_line(ClientConnection& connection, std::string_view line) {
        if (step_ == Step::greeting) {
            if (!line.starts_with("* OK")) return fail(connection, "greeting", line);
            connection.results().imap_step(Step::greeting).record(monotonic_ns() - command_sent_ns_);
            return send_command(Step::login);
        }
        auto command = static_cast<size_t>(step_) - 1;
        char tag = static_cast<char>('a' + command);
        if (line.size() < 2 || line[0] != tag || line[1] != ' ') return true;  // untagged, or a literal's tail
        std::string_view status = line.substr(2);
        if (!status.starts_with("OK")) return fail(connection, step_name(step_), line);
        uint64_t took = monotonic_ns() - command_sent_ns_;
        connection.results().latency.record(took);
        connection.results().imap_step(step_).record(took);
        switch (step_) {
        case Step::login: return send_command(Step::select);
        case Step::select: return send_command(Step::fetch);
        case Step::fetch:
            if (reader_.literal_bytes() == 0) return fail(connection, "FETCH", "no message body (is INBOX empty?)");
            ThreadCounters::add(connection.counters().bytes, reader_.literal_bytes());
            return send_command(Step::logout);
        case Step::logout:
            connection.results().completion.record(monotonic_ns() - connection.unit_started_ns());
            ThreadCounters::add(connection.counters().completed);
            connection.finish();
            return false;
        case Step::greeting: break;
        }
        return false;
    }

    bool send_command(Step next) {
        step_ = next;
        const std::string& command = commands_[static_cast<size_t>(next) - 1];
        out_ = {reinterpret_cast<const uint8_t*>(command.data()), command.size()};
        command_sent_ns_ = monotonic_ns();
        return true;
    }

    bool fail(ClientConnection& connection, const char* what, std::string_view line) {
        std::string why = std::string("IMAP ") + what + ": " + std::string(line.substr(0, 200));
        connection.fail(ErrorKind::protocol, why);
        connection.control().request_stop();
        return false;
    }

    std::array<std::string, 4> commands_;  // LOGIN, SELECT, FETCH, LOGOUT: built once per slot
    ImapResponseReader reader_;
    std::span<const uint8_t> out_;
    Step step_ = Step::greeting;
    uint64_t command_sent_ns_ = 0;
};

}  // namespace

std::unique_ptr<Session> make_imap_session(const LoadOptions& options) { return std::make_unique<ImapSession>(options); }

}  // namespace tlsfront::bench
