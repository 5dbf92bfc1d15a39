// ImapResponseReader: splits an IMAP server's byte stream into response lines in a fixed buffer.
// A line ending in a literal announcement ({n} or {n+}) is delivered, then its n literal bytes are
// counted and skipped (a FETCH BODY[] of any size passes through 4 KiB), then the rest of the
// response arrives as a line of its own (")" for a FETCH).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace tlsfront::bench {

class ImapResponseReader {
public:
    enum class Status : uint8_t { more, stopped, line_too_long };

    void reset() {
        length_ = 0;
        literal_left_ = 0;
        literal_bytes_ = 0;
    }
    // Literal bytes skipped since reset().
    uint64_t literal_bytes() const { return literal_bytes_; }

    // Calls on_line(std::string_view line), CRLF stripped, for each complete line; stops early
    // (Status::stopped) when on_line returns false.
    template <typename OnLine>
    Status feed(std::span<const uint8_t> data, OnLine&& on_line) {
        size_t i = 0;
        while (i < data.size()) {
            if (literal_left_ > 0) {
                uint64_t skip = std::min<uint64_t>(literal_left_, data.size() - i);
                literal_left_ -= skip;
                literal_bytes_ += skip;
                i += static_cast<size_t>(skip);
                continue;
            }
            char c = static_cast<char>(data[i++]);
            if (length_ == line_.size()) return Status::line_too_long;
            line_[length_++] = c;
            if (c != '\n') continue;
            std::string_view line(line_.data(), length_ - 1);
            if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
            length_ = 0;
            literal_left_ = literal_size(line);
            if (!on_line(line)) return Status::stopped;
        }
        return Status::more;
    }

private:
    // n for a line ending in "{n}" or "{n+}", else 0.
    static uint64_t literal_size(std::string_view line) {
        if (line.empty() || line.back() != '}') return 0;
        size_t open = line.rfind('{');
        if (open == std::string_view::npos) return 0;
        std::string_view digits = line.substr(open + 1, line.size() - open - 2);
        if (!digits.empty() && digits.back() == '+') digits.remove_suffix(1);
        uint64_t n = 0;
        for (char d : digits) {
            if (d < '0' || d > '9') return 0;
            n = n * 10 + static_cast<uint64_t>(d - '0');
        }
        return n;
    }

    std::array<char, 4096> line_{};
    size_t length_ = 0;
    uint64_t literal_left_ = 0;
    uint64_t literal_bytes_ = 0;
};

}  // namespace tlsfront::bench
