// Structured logging to stderr: one line per event, `key=value` text or one JSON object, written
// with a single write(2) so lines from several workers never interleave.
#pragma once

#include <cstdint>
#include <string_view>

#include "config/config.hpp"

namespace tlsfront {

void configure_logging(LogLevel level, LogFormat format);
bool log_enabled(LogLevel level);

// Builds one line in a fixed buffer (no allocation); emitted by the destructor. Long values are
// cut rather than split across lines.
class LogLine {
public:
    LogLine(LogLevel level, std::string_view event);
    ~LogLine();
    LogLine(const LogLine&) = delete;
    LogLine& operator=(const LogLine&) = delete;

    LogLine& field(std::string_view key, std::string_view value);
    LogLine& field(std::string_view key, const char* value) { return field(key, std::string_view(value ? value : "-")); }
    LogLine& field(std::string_view key, uint64_t value);
    LogLine& field(std::string_view key, int64_t value);
    LogLine& field(std::string_view key, int value) { return field(key, static_cast<int64_t>(value)); }
    LogLine& field(std::string_view key, unsigned value) { return field(key, static_cast<uint64_t>(value)); }
    LogLine& hex_field(std::string_view key, uint64_t value);

private:
    void append(std::string_view s);
    void append_quoted(std::string_view s);
    void number(std::string_view key, std::string_view digits);

    bool enabled_;
    uint32_t len_ = 0;
    char buf_[1536];
};

}  // namespace tlsfront
