// Durations as the config writes them: "500ms", "10s", "35m", "1h30m", "2d".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tlsfront {

// One or more number+unit groups (units ms, s, m, h, d), largest unit first, each unit at most
// once; "0" alone is accepted. No sign, spaces or fractions. nullopt when malformed or when the
// total does not fit in milliseconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest form parse_duration accepts back: "35m", "1h30m", "1500ms", "0s".
std::string format_duration(std::chrono::milliseconds duration);

}  // namespace tlsfront
