// Parsing and printing of config durations (see duration.hpp for the syntax).
#include "config/duration.hpp"

#include <array>
#include <cstdint>

namespace tlsfront {

namespace {

struct Unit {
    std::string_view suffix;
    int64_t milliseconds;
};

// Largest first: the order in which groups must appear. "ms" precedes "m" so that the longest
// suffix wins when matching.
constexpr std::array<Unit, 5> units{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Index into `units` of the suffix at the start of `text`, or nullopt.
std::optional<size_t> match_unit(std::string_view text) {
    std::optional<size_t> best;
    for (size_t i = 0; i < units.size(); ++i) {
        if (!text.starts_with(units[i].suffix)) continue;
        if (!best || units[i].suffix.size() > units[*best].suffix.size()) best = i;
    }
    return best;
}

std::optional<int64_t> parse_number(std::string_view& text) {
    int64_t value = 0;
    size_t used = 0;
    while (used < text.size() && is_digit(text[used])) {
        if (__builtin_mul_overflow(value, 10, &value)) return std::nullopt;
        if (__builtin_add_overflow(value, text[used] - '0', &value)) return std::nullopt;
        ++used;
    }
    if (used == 0) return std::nullopt;
    text.remove_prefix(used);
    return value;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    if (text == "0") return std::chrono::milliseconds{0};
    if (text.empty()) return std::nullopt;
    int64_t total = 0;
    size_t next_allowed_unit = 0;  // units must strictly decrease: "1h30m", not "30m1h" or "1m1m"
    while (!text.empty()) {
        auto number = parse_number(text);
        if (!number) return std::nullopt;
        auto unit = match_unit(text);
        if (!unit || *unit < next_allowed_unit) return std::nullopt;
        text.remove_prefix(units[*unit].suffix.size());
        next_allowed_unit = *unit + 1;
        int64_t part = 0;
        if (__builtin_mul_overflow(*number, units[*unit].milliseconds, &part)) return std::nullopt;
        if (__builtin_add_overflow(total, part, &total)) return std::nullopt;
    }
    return std::chrono::milliseconds{total};
}

std::string format_duration(std::chrono::milliseconds duration) {
    int64_t ms = duration.count();
    if (ms == 0) return "0s";
    if (ms < 0) {
        // Config durations are never negative; keep the output readable anyway (and avoid -INT64_MIN).
        if (ms == INT64_MIN) return "-" + std::to_string(static_cast<uint64_t>(INT64_MAX) + 1) + "ms";
        return "-" + format_duration(std::chrono::milliseconds{-ms});
    }
    // "1500ms" reads better than "1s500ms".
    if (ms % 1000 != 0) return std::to_string(ms) + "ms";
    std::string text;
    for (const Unit& unit : units) {
        if (unit.milliseconds < 1000) break;
        int64_t count = ms / unit.milliseconds;
        if (count == 0) continue;
        text += std::to_string(count);
        text += unit.suffix;
        ms -= count * unit.milliseconds;
    }
    return text;
}

}  // namespace tlsfront
