// PrometheusText: builds a /metrics body in the Prometheus text exposition format 0.0.4 (HELP and
// TYPE once per family, escaped label values, locale-free numbers, histograms as cumulative
// `_bucket{le=...}` series plus `_sum` and `_count`). Metric and label names come from code, so
// they are checked by assert only.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tlsfront {

// The Content-Type of a body PrometheusText wrote.
constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { counter, gauge, histogram, untyped };

using PrometheusLabel = std::pair<std::string_view, std::string_view>;  // name, value
using PrometheusLabels = std::initializer_list<PrometheusLabel>;

// A sample's value: any integer (written exactly, even above 2^53) or a double.
class MetricValue {
public:
    MetricValue(double value) : kind_(Kind::real), real_(value) {}
    template <std::integral T>
    MetricValue(T value) {
        if constexpr (std::is_signed_v<T>) {
            kind_ = Kind::signed_integer;
            signed_ = value;
        } else {
            kind_ = Kind::unsigned_integer;
            unsigned_ = value;
        }
    }
    std::string to_string() const;

private:
    enum class Kind { real, signed_integer, unsigned_integer };
    Kind kind_ = Kind::real;
    double real_ = 0;
    int64_t signed_ = 0;
    uint64_t unsigned_ = 0;
};

class PrometheusText {
public:
    // Writes "# HELP name help" and "# TYPE name type" the first time `name` is seen; later calls
    // with the same name write nothing (the samples of a family must still be written together).
    void family(std::string_view name, std::string_view help, MetricType type);

    // "name{a="x",b="y"} value": integers exactly, other values in the shortest text that reads
    // back as the same double, NaN and +Inf/-Inf as Prometheus spells them.
    // Labels as a braced list ({{"listener", "imaps"}}) or any contiguous range (a vector).
    void sample(std::string_view name, PrometheusLabels labels, MetricValue value);
    void sample(std::string_view name, std::span<const PrometheusLabel> labels, MetricValue value);

    // One histogram series (write its family first). `upper_bounds` are the finite bucket bounds
    // in ascending order (seconds for durations); `bucket_counts[i]` is the number of
    // observations in bucket i alone (NOT cumulative: upper_bounds[i-1] < v <= upper_bounds[i]),
    // one per bound; observations above the last bound are in `count` only. Writes cumulative
    // name_bucket{...,le="..."} lines ending with le="+Inf", then name_sum and name_count. When
    // counters read without a common lock disagree, +Inf and _count are raised to the sum of the
    // buckets so that the series stays monotone.
    void histogram(std::string_view name, PrometheusLabels labels, std::span<const double> upper_bounds,
                   std::span<const uint64_t> bucket_counts, double sum, uint64_t count);
    void histogram(std::string_view name, std::span<const PrometheusLabel> labels,
                   std::span<const double> upper_bounds, std::span<const uint64_t> bucket_counts, double sum,
                   uint64_t count);

    const std::string& text() const { return text_; }
    std::string take() { return std::move(text_); }

private:
    void series(std::string_view name, std::string_view suffix, std::span<const PrometheusLabel> labels,
                std::string_view le);

    std::string text_;
    std::vector<std::string> families_;  // names whose HELP and TYPE are written
};

// The number as the exposition format writes it: "42", "0.25", "1e+21", "NaN", "+Inf", "-Inf".
std::string prometheus_number(double value);

}  // namespace tlsfront
