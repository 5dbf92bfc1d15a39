// Log line formatting (text key=value or JSON) and the single write to stderr.
#include "proxy/common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <ctime>

namespace tlsfront {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<bool> g_json{false};

const char* level_name(LogLevel level) {
    switch (level) {
    case LogLevel::error: return "error";
    case LogLevel::warn: return "warn";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
    }
    return "info";
}

bool needs_quotes(std::string_view s) {
    if (s.empty()) return true;
    for (char c : s)
        if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return true;
    return false;
}

}  // namespace

void configure_logging(LogLevel level, LogFormat format) {
    g_level = static_cast<int>(level);
    g_json = format == LogFormat::json;
}

bool log_enabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed); }

LogLine::LogLine(LogLevel level, std::string_view event) : enabled_(log_enabled(level)) {
    if (!enabled_) return;
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tm utc{};
    gmtime_r(&now.tv_sec, &utc);
    char ts[40];
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &utc);
    n += static_cast<size_t>(snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1'000'000));
    if (g_json) append("{");
    field("ts", std::string_view(ts, n));
    field("level", level_name(level));
    field("event", event);
}

void LogLine::append(std::string_view s) {
    // Keep room for the closing "}\n".
    size_t room = sizeof buf_ - 2 - len_;
    if (s.size() > room) s = s.substr(0, room);
    s.copy(buf_ + len_, s.size());
    len_ += static_cast<uint32_t>(s.size());
}

void LogLine::append_quoted(std::string_view s) {
    append("\"");
    for (char c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', c};
            append({esc, 2});
        } else if (u < 0x20 || u == 0x7f) {
            char esc[8];
            int n = snprintf(esc, sizeof esc, "\\u%04x", u);
            append({esc, static_cast<size_t>(n)});
        } else {
            append({&c, 1});
        }
    }
    append("\"");
}

LogLine& LogLine::field(std::string_view key, std::string_view value) {
    if (!enabled_) return *this;
    if (g_json) {
        if (len_ > 1) append(",");
        append_quoted(key);
        append(":");
        append_quoted(value);
    } else {
        if (len_ > 0) append(" ");
        append(key);
        append("=");
        if (needs_quotes(value)) append_quoted(value);
        else append(value);
    }
    return *this;
}

void LogLine::number(std::string_view key, std::string_view digits) {
    if (!enabled_) return;
    if (g_json) {
        if (len_ > 1) append(",");
        append_quoted(key);
        append(":");
    } else {
        if (len_ > 0) append(" ");
        append(key);
        append("=");
    }
    append(digits);
}

LogLine& LogLine::field(std::string_view key, uint64_t value) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    number(key, {digits, static_cast<size_t>(end - digits)});
    return *this;
}

LogLine& LogLine::field(std::string_view key, int64_t value) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    number(key, {digits, static_cast<size_t>(end - digits)});
    return *this;
}

LogLine& LogLine::hex_field(std::string_view key, uint64_t value) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, value, 16).ptr;
    return field(key, std::string_view(digits, static_cast<size_t>(end - digits)));
}

LogLine::~LogLine() {
    if (!enabled_) return;
    if (g_json) buf_[len_++] = '}';
    buf_[len_++] = '\n';
    const char* p = buf_;
    size_t left = len_;
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n <= 0) break;  // stderr gone: nothing better to do than drop the line
        p += n;
        left -= static_cast<size_t>(n);
    }
}

}  // namespace tlsfront
