// parse_duration / format_duration: the config's duration syntax.
#include <doctest/doctest.h>

#include "config/duration.hpp"

using namespace std::chrono_literals;
using tlsfront::format_duration;
using tlsfront::parse_duration;

TEST_CASE("parse_duration accepts one or more number+unit groups") {
    CHECK(parse_duration("500ms") == 500ms);
    CHECK(parse_duration("10s") == 10s);
    CHECK(parse_duration("35m") == 35min);
    CHECK(parse_duration("1h") == 1h);
    CHECK(parse_duration("2d") == 48h);
    CHECK(parse_duration("1h30m") == 90min);
    CHECK(parse_duration("1d2h3m4s5ms") == 24h + 2h + 3min + 4s + 5ms);
    CHECK(parse_duration("90m") == 90min);
    CHECK(parse_duration("1500ms") == 1500ms);
}

TEST_CASE("parse_duration accepts zero written as 0 or with a unit") {
    CHECK(parse_duration("0") == 0ms);
    CHECK(parse_duration("0s") == 0ms);
    CHECK(parse_duration("0ms") == 0ms);
}

TEST_CASE("parse_duration refuses malformed text") {
    for (const char* text : {"",    "10", "s",      "ms",   "-1s",  "+1s",   "1.5s", " 1s", "1s ",   "1 s",
                             "10x", "1S", "1h 30m", "1m1h", "1m1m", "1ms1s", "1h30", "h1",  "0x10s", "00"}) {
        CAPTURE(text);
        CHECK_FALSE(parse_duration(text).has_value());
    }
}

TEST_CASE("parse_duration refuses totals that do not fit in milliseconds") {
    CHECK_FALSE(parse_duration("99999999999999999999ms").has_value());  // the number itself overflows
    CHECK_FALSE(parse_duration("9223372036854776s").has_value());       // the product overflows
    CHECK_FALSE(parse_duration("106751991167d23h").has_value());        // the sum overflows
    CHECK(parse_duration("9223372036854775807ms") == std::chrono::milliseconds{INT64_MAX});
    CHECK(parse_duration("106751991167d").has_value());
}

TEST_CASE("format_duration prints the shortest accepted form") {
    CHECK(format_duration(0ms) == "0s");
    CHECK(format_duration(1500ms) == "1500ms");
    CHECK(format_duration(10s) == "10s");
    CHECK(format_duration(35min) == "35m");
    CHECK(format_duration(90min) == "1h30m");
    CHECK(format_duration(90s) == "1m30s");
    CHECK(format_duration(48h) == "2d");
    CHECK(format_duration(24h + 1s) == "1d1s");
    CHECK(format_duration(-10s) == "-10s");
}

TEST_CASE("format_duration output parses back to the same duration") {
    for (std::chrono::milliseconds duration : std::initializer_list<std::chrono::milliseconds>{
             0ms, 1ms, 999ms, 1000ms, 61s, 3601s, 25h, 36h + 15min + 7s, 123456789ms}) {
        CAPTURE(duration.count());
        CHECK(parse_duration(format_duration(duration)) == duration);
    }
}
