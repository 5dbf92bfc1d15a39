// PrometheusText writes the text exposition format byte for byte as Prometheus reads it.
#include <doctest/doctest.h>

#include <array>
#include <clocale>
#include <cmath>
#include <limits>
#include <vector>

#include "proxy/daemon/prometheus_text.hpp"

using namespace tlsfront;

TEST_CASE("a family with two samples: HELP and TYPE once, labels in order") {
    PrometheusText out;
    out.family("tlsfront_connections_total", "Connections accepted.", MetricType::counter);
    out.sample("tlsfront_connections_total", {{"listener", "imaps"}, {"worker", "0"}}, 42);
    out.family("tlsfront_connections_total", "written once", MetricType::counter);
    out.sample("tlsfront_connections_total", {{"listener", "pop3s"}, {"worker", "1"}}, uint64_t{7});
    out.family("tlsfront_up", "1 while serving.", MetricType::gauge);
    out.sample("tlsfront_up", {}, 1);
    CHECK(out.text() ==
          "# HELP tlsfront_connections_total Connections accepted.\n"
          "# TYPE tlsfront_connections_total counter\n"
          "tlsfront_connections_total{listener=\"imaps\",worker=\"0\"} 42\n"
          "tlsfront_connections_total{listener=\"pop3s\",worker=\"1\"} 7\n"
          "# HELP tlsfront_up 1 while serving.\n"
          "# TYPE tlsfront_up gauge\n"
          "tlsfront_up 1\n");
    std::string taken = out.take();
    CHECK(taken.ends_with("tlsfront_up 1\n"));
}

TEST_CASE("label values escape backslash, quote and newline; HELP escapes backslash and newline") {
    PrometheusText out;
    out.family("m", "a \\ b\nc \"quoted\"", MetricType::gauge);
    out.sample("m", {{"path", "C:\\dir\n\"x\""}}, 0);
    CHECK(out.text() ==
          "# HELP m a \\\\ b\\nc \"quoted\"\n"
          "# TYPE m gauge\n"
          "m{path=\"C:\\\\dir\\n\\\"x\\\"\"} 0\n");
}

TEST_CASE("labels from a vector and an untyped family") {
    PrometheusText out;
    std::vector<PrometheusLabel> labels{{"a", "1"}, {"b", ""}};
    out.family("x_info", "", MetricType::untyped);
    out.sample("x_info", labels, 1);
    CHECK(out.text() == "# HELP x_info \n# TYPE x_info untyped\nx_info{a=\"1\",b=\"\"} 1\n");
}

TEST_CASE("numbers: integers exactly, doubles round-trip, special values, no locale") {
    CHECK(prometheus_number(0) == "0");
    CHECK(prometheus_number(-3) == "-3");
    CHECK(prometheus_number(1e15) == "1000000000000000");
    CHECK(prometheus_number(0.25) == "0.25");
    CHECK(prometheus_number(0.1) == "0.1");
    CHECK(prometheus_number(1.0 / 3) == "0.3333333333333333");
    CHECK(std::stod(prometheus_number(1.0 / 3)) == 1.0 / 3);
    CHECK(prometheus_number(1e300) == "1e+300");
    CHECK(prometheus_number(2.5e-7) == "2.5e-07");
    CHECK(prometheus_number(std::numeric_limits<double>::infinity()) == "+Inf");
    CHECK(prometheus_number(-std::numeric_limits<double>::infinity()) == "-Inf");
    CHECK(prometheus_number(std::nan("")) == "NaN");

    PrometheusText out;
    out.sample("big", {}, std::numeric_limits<uint64_t>::max());
    out.sample("neg", {}, int64_t{-5});
    out.sample("real", {}, 1.5);
    CHECK(out.text() == "big 18446744073709551615\nneg -5\nreal 1.5\n");

    // A decimal-comma locale must not leak into the output.
    if (std::setlocale(LC_ALL, "de_DE.UTF-8")) {
        CHECK(prometheus_number(0.5) == "0.5");
        std::setlocale(LC_ALL, "C");
    }
}

TEST_CASE("a histogram writes cumulative buckets, +Inf, sum and count") {
    PrometheusText out;
    std::array<double, 3> bounds{0.005, 0.1, 1};
    std::array<uint64_t, 3> per_bucket{2, 0, 3};
    out.family("tlsfront_handshake_seconds", "TLS handshake time.", MetricType::histogram);
    out.histogram("tlsfront_handshake_seconds", {{"listener", "imaps"}}, bounds, per_bucket, 2.75, 6);
    CHECK(out.text() ==
          "# HELP tlsfront_handshake_seconds TLS handshake time.\n"
          "# TYPE tlsfront_handshake_seconds histogram\n"
          "tlsfront_handshake_seconds_bucket{listener=\"imaps\",le=\"0.005\"} 2\n"
          "tlsfront_handshake_seconds_bucket{listener=\"imaps\",le=\"0.1\"} 2\n"
          "tlsfront_handshake_seconds_bucket{listener=\"imaps\",le=\"1\"} 5\n"
          "tlsfront_handshake_seconds_bucket{listener=\"imaps\",le=\"+Inf\"} 6\n"
          "tlsfront_handshake_seconds_sum{listener=\"imaps\"} 2.75\n"
          "tlsfront_handshake_seconds_count{listener=\"imaps\"} 6\n");
}

TEST_CASE("a histogram without labels, and a count read lower than its buckets is raised") {
    PrometheusText out;
    std::array<double, 1> bounds{0.5};
    std::array<uint64_t, 1> per_bucket{4};
    out.histogram("h", {}, bounds, per_bucket, 1, 3);  // count read before the last bucket update
    CHECK(out.text() ==
          "h_bucket{le=\"0.5\"} 4\n"
          "h_bucket{le=\"+Inf\"} 4\n"
          "h_sum 1\n"
          "h_count 4\n");
}
