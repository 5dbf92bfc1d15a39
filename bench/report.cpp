// Summary figures per scenario, as human lines and as one JSON object.
#include "bench/report.hpp"

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include "bench/latency_histogram.hpp"

namespace tlsfront::bench {
namespace {

std::string format(const char* pattern, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* pattern, ...) {
    char text[512];
    va_list args;
    va_start(args, pattern);
    vsnprintf(text, sizeof text, pattern, args);
    va_end(args);
    return text;
}

std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += format("\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// A JSON object written field by field, in the order the summary wants them read.
class JsonObject {
public:
    JsonObject& text(std::string_view key, std::string_view value) { return raw(key, quoted(value)); }
    JsonObject& integer(std::string_view key, uint64_t value) { return raw(key, std::to_string(value)); }
    JsonObject& number(std::string_view key, double value, int decimals) {
        return raw(key, format("%.*f", decimals, value));
    }
    JsonObject& boolean(std::string_view key, bool value) { return raw(key, value ? "true" : "false"); }
    JsonObject& object(std::string_view key, const JsonObject& value) { return raw(key, value.str()); }
    JsonObject& raw(std::string_view key, const std::string& json) {
        if (!body_.empty()) body_ += ", ";
        body_ += quoted(key) + ": " + json;
        return *this;
    }
    bool empty() const { return body_.empty(); }
    std::string str() const { return "{" + body_ + "}"; }

private:
    std::string body_;
};

// One "label   value" line per figure on stderr.
class HumanLines {
public:
    explicit HumanLines(bool enabled) : enabled_(enabled) {}
    void line(const char* label, const std::string& value) const {
        if (enabled_) std::cerr << format("%-17s %s\n", label, value.c_str());
    }

private:
    bool enabled_;
};

std::string human_time(uint64_t ns) {
    if (ns < 1'000) return format("%llu ns", static_cast<unsigned long long>(ns));
    if (ns < 1'000'000) return format("%.1f us", static_cast<double>(ns) / 1e3);
    if (ns < 1'000'000'000) return format("%.2f ms", static_cast<double>(ns) / 1e6);
    return format("%.2f s", static_cast<double>(ns) / 1e9);
}

std::string human_percentiles(const LatencyHistogram& h) {
    return format("min %s, p50 %s, p99 %s, p99.9 %s, max %s (%llu samples)", human_time(h.min()).c_str(),
                  human_time(h.quantile(0.5)).c_str(), human_time(h.quantile(0.99)).c_str(),
                  human_time(h.quantile(0.999)).c_str(), human_time(h.max()).c_str(),
                  static_cast<unsigned long long>(h.count()));
}

// {"min", "p50", "p99", "p999", "max"} in microseconds (unit_ns = 1000) or milliseconds (1e6).
JsonObject json_percentiles(const LatencyHistogram& h, double unit_ns) {
    JsonObject o;
    o.number("min", static_cast<double>(h.min()) / unit_ns, 1)
        .number("p50", static_cast<double>(h.quantile(0.5)) / unit_ns, 1)
        .number("p99", static_cast<double>(h.quantile(0.99)) / unit_ns, 1)
        .number("p999", static_cast<double>(h.quantile(0.999)) / unit_ns, 1)
        .number("max", static_cast<double>(h.max()) / unit_ns, 1)
        .integer("samples", h.count());
    return o;
}

double per_second(uint64_t count, double seconds) { return seconds > 0 ? static_cast<double>(count) / seconds : 0; }

void add_rate(JsonObject& json, const HumanLines& human, const char* what, uint64_t count, double seconds) {
    double rate = per_second(count, seconds);
    json.integer(what, count).number((std::string(what) + "_per_s").c_str(), rate, 1);
    human.line((std::string(what) + "/s").c_str(),
               format("%.1f  (%llu in %.2f s)", rate, static_cast<unsigned long long>(count), seconds));
}

void add_transfer_figures(JsonObject& json, const HumanLines& human, const LoadOptions& o, const RunReport& r) {
    double mb_per_s = r.duration_s > 0 ? static_cast<double>(r.totals.bytes) / r.duration_s / 1e6 : 0;
    json.integer("bytes", r.totals.bytes).integer("bytes_per_transfer", o.bytes).number("mb_per_s", mb_per_s, 1);
    json.integer("transfers", r.totals.completed);
    human.line("MB/s", format("%.1f  (%llu bytes, 1 MB = 10^6 bytes)", mb_per_s,
                              static_cast<unsigned long long>(r.totals.bytes)));
    human.line("transfers", format("%llu of %llu bytes each, verified", static_cast<unsigned long long>(r.totals.completed),
                                   static_cast<unsigned long long>(o.bytes)));
    if (r.results.completion.count()) {
        json.object("transfer_ms", json_percentiles(r.results.completion, 1e6));
        human.line("per connection", human_percentiles(r.results.completion));
    }
}

void add_idle_figures(JsonObject& json, const HumanLines& human, const LoadOptions& o, const RunReport& r) {
    json.integer("connections_held", r.held_connections).number("open_s", r.open_s, 2).number("hold_s", r.duration_s, 2);
    human.line("held", format("%llu of %u connections for %.1f s (all open after %.2f s)",
                              static_cast<unsigned long long>(r.held_connections), o.connections, r.duration_s, r.open_s));
    if (!r.rss_before_bytes || !r.rss_after_bytes) {
        human.line("rss", o.pid ? "could not be read at the end (proxy gone?)" : "not measured (no --pid)");
        return;
    }
    auto before = static_cast<double>(*r.rss_before_bytes), after = static_cast<double>(*r.rss_after_bytes);
    double growth = r.held_connections ? (after - before) / static_cast<double>(r.held_connections) : 0;
    json.integer("pid", static_cast<uint64_t>(o.pid))
        .integer("rss_before_bytes", *r.rss_before_bytes)
        .integer("rss_after_bytes", *r.rss_after_bytes)
        .number("rss_growth_per_connection_bytes", growth, 0);
    human.line("rss", format("pid %d: %.1f MiB before, %.1f MiB after", static_cast<int>(o.pid), before / 1048576,
                             after / 1048576));
    human.line("rss/connection", format("%.0f bytes (%.2f KiB)", growth, growth / 1024));
}

void add_imap_figures(JsonObject& json, const HumanLines& human, const RunReport& r) {
    // JSON keys and human labels, in ImapStep order
    static constexpr std::array<std::array<const char*, 2>, kImapSteps> kSteps{
        {{"greeting", "greeting"}, {"login", "LOGIN"}, {"select", "SELECT"}, {"fetch", "FETCH"}, {"logout", "LOGOUT"}}};
    const auto& steps = r.results.imap_steps;
    add_rate(json, human, "sessions", r.totals.completed, r.duration_s);
    json.object("latency_us", json_percentiles(r.results.latency, 1e3));
    json.object("greeting_us", json_percentiles(steps[0], 1e3));  // = commands_us.greeting, kept for older readers
    JsonObject commands;
    for (size_t i = 0; i < kImapSteps; ++i) {
        commands.object(kSteps[i][0], json_percentiles(steps[i], 1e3));
        human.line(kSteps[i][1], human_percentiles(steps[i]));
    }
    json.object("commands_us", commands);
    json.object("session_ms", json_percentiles(r.results.completion, 1e6));
    json.integer("bytes", r.totals.bytes);
    human.line("command latency", human_percentiles(r.results.latency));
    human.line("session time", human_percentiles(r.results.completion));
}

void add_arrivals(JsonObject& json, const HumanLines& human, const LoadOptions& o, const RunReport& r) {
    json.number("rate", o.rate, 3)
        .integer("arrivals_scheduled", r.totals.arrivals)
        .integer("arrivals_late", r.totals.late)
        .object("start_delay_us", json_percentiles(r.results.start_delay, 1e3));
    human.line("arrivals", format("%llu at %g/s, %llu late (found no free connection)",
                                  static_cast<unsigned long long>(r.totals.arrivals), o.rate,
                                  static_cast<unsigned long long>(r.totals.late)));
    human.line("start delay", human_percentiles(r.results.start_delay));
}

void add_errors(JsonObject& json, const HumanLines& human, const RunReport& r) {
    json.integer("errors", r.totals.errors);
    human.line("errors", std::to_string(r.totals.errors));
    JsonObject kinds, first;
    for (size_t i = 0; i < kErrorKinds; ++i) {
        uint64_t count = r.results.errors.counts[i];
        if (!count) continue;
        const char* kind = to_string(static_cast<ErrorKind>(i));
        kinds.integer(kind, count);
        first.text(kind, r.results.errors.first[i]);
        human.line(format("  %s", kind).c_str(),
                   format("%llu, first: %s", static_cast<unsigned long long>(count), r.results.errors.first[i].c_str()));
    }
    if (!kinds.empty()) json.object("error_kinds", kinds).object("first_errors", first);
}

}  // namespace

int write_summary(const LoadOptions& o, const RunReport& r) {
    const CounterTotals& t = r.totals;
    HumanLines human(!o.quiet);
    JsonObject json;
    json.text("scenario", to_string(o.scenario))
        .text("connect", o.connect.to_string())
        .integer("connections", o.connections)
        .integer("threads", o.threads)
        .number("duration_s", r.duration_s, 3)
        .integer("completed", t.completed);
    human.line("run", format("%s -> %s, %u connections, %u threads, %.2f s%s", to_string(o.scenario),
                             o.connect.to_string().c_str(), o.connections, o.threads, r.duration_s,
                             r.interrupted ? " (interrupted)" : ""));
    switch (o.scenario) {
    case Scenario::handshake:
    case Scenario::resume: {
        add_rate(json, human, "handshakes", t.handshakes, r.duration_s);
        double share = t.handshakes ? static_cast<double>(t.resumed) / static_cast<double>(t.handshakes) : 0;
        json.number("resumed_share", share, 4);
        human.line("resumed", format("%.1f%%  (%llu of %llu)", share * 100, static_cast<unsigned long long>(t.resumed),
                                     static_cast<unsigned long long>(t.handshakes)));
        break;
    }
    case Scenario::download:
    case Scenario::upload: add_transfer_figures(json, human, o, r); break;
    case Scenario::pingpong:
        add_rate(json, human, "requests", t.completed, r.duration_s);
        json.object("latency_us", json_percentiles(r.results.latency, 1e3));
        human.line("latency", human_percentiles(r.results.latency));
        if (r.all_open_s) {
            json.number("latency_from_s", *r.all_open_s, 3);
            human.line("measured from", format("%.2f s, when all %u connections were open", *r.all_open_s, o.connections));
        } else {
            json.raw("latency_from_s", "null");
            human.line("measured from", "never: not every connection was open at once (no latency samples)");
        }
        break;
    case Scenario::idle: add_idle_figures(json, human, o, r); break;
    case Scenario::imap: add_imap_figures(json, human, r); break;
    }
    if (o.rate > 0) add_arrivals(json, human, o, r);
    if (o.scenario != Scenario::handshake && o.scenario != Scenario::resume) json.integer("handshakes", t.handshakes);
    if (r.results.handshake.count()) {
        json.object("handshake_us", json_percentiles(r.results.handshake, 1e3));
        // --rate, a connection per unit: from the arrival's scheduled time, not from the connect
        human.line(o.rate > 0 && unit_is_connection(o.scenario) ? "arrival+handshake" : "connect+handshake",
                   human_percentiles(r.results.handshake));
    }
    add_errors(json, human, r);
    if (!r.results_complete) {
        json.boolean("results_complete", false);
        human.line("warning", "a thread did not return after the hard cap: latencies and error details are missing");
    }

    std::string text = json.str() + "\n";
    std::cout << text << std::flush;
    int status = t.errors == 0 && r.results_complete ? 0 : 1;
    if (!o.json_path.empty()) {
        std::ofstream file(o.json_path, std::ios::trunc);
        file << text;
        file.close();
        if (!file) {
            std::cerr << "tlsfront-bench: cannot write " << o.json_path << '\n';
            status = 1;
        }
    }
    return status;
}

}  // namespace tlsfront::bench
