// Text exposition format 0.0.4: escaping, number spelling and the histogram series layout.
#include "proxy/daemon/prometheus_text.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>

namespace tlsfront {
namespace {

[[maybe_unused]] bool is_name(std::string_view name, bool allow_colon) {
    if (name.empty()) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
        if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

[[maybe_unused]] bool is_metric_name(std::string_view name) { return is_name(name, true); }
// Names starting with "__" are reserved for Prometheus itself.
[[maybe_unused]] bool is_label_name(std::string_view name) { return is_name(name, false) && !name.starts_with("__"); }

// HELP text escapes backslash and newline; label values also escape the double quote.
void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && escape_quote) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
}

template <typename Integer>
std::string integer_text(Integer value) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    return std::string(digits, end);
}

std::string_view type_name(MetricType type) {
    switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
    case MetricType::untyped: return "untyped";
    }
    return "untyped";
}

}  // namespace

std::string prometheus_number(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    // Integral values within int64 are written as integers ("3", not "3e+00" or "3.0").
    if (value == std::trunc(value) && std::fabs(value) < 9.2e18) return integer_text(static_cast<int64_t>(value));
    // Shortest form that reads back as the same double; std::to_chars ignores the locale.
    char digits[32];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    return std::string(digits, end);
}

std::string MetricValue::to_string() const {
    switch (kind_) {
    case Kind::signed_integer: return integer_text(signed_);
    case Kind::unsigned_integer: return integer_text(unsigned_);
    case Kind::real: break;
    }
    return prometheus_number(real_);
}

void PrometheusText::family(std::string_view name, std::string_view help, MetricType type) {
    assert(is_metric_name(name));
    if (std::find(families_.begin(), families_.end(), name) != families_.end()) return;
    families_.emplace_back(name);
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    append_escaped(text_, help, false);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type_name(type);
    text_ += '\n';
}

void PrometheusText::series(std::string_view name, std::string_view suffix, std::span<const PrometheusLabel> labels,
                            std::string_view le) {
    assert(is_metric_name(name));
    text_ += name;
    text_ += suffix;
    if (!labels.empty() || !le.empty()) {
        text_ += '{';
        bool first = true;
        for (const auto& [label, value] : labels) {
            assert(is_label_name(label) && label != "le");
            if (!first) text_ += ',';
            first = false;
            text_ += label;
            text_ += "=\"";
            append_escaped(text_, value, true);
            text_ += '"';
        }
        if (!le.empty()) {
            if (!first) text_ += ',';
            text_ += "le=\"";
            text_ += le;
            text_ += '"';
        }
        text_ += '}';
    }
    text_ += ' ';
}

void PrometheusText::sample(std::string_view name, PrometheusLabels labels, MetricValue value) {
    sample(name, std::span<const PrometheusLabel>(labels.begin(), labels.size()), value);
}

void PrometheusText::sample(std::string_view name, std::span<const PrometheusLabel> labels, MetricValue value) {
    series(name, "", labels, "");
    text_ += value.to_string();
    text_ += '\n';
}

void PrometheusText::histogram(std::string_view name, PrometheusLabels labels, std::span<const double> upper_bounds,
                               std::span<const uint64_t> bucket_counts, double sum, uint64_t count) {
    histogram(name, std::span<const PrometheusLabel>(labels.begin(), labels.size()), upper_bounds, bucket_counts,
              sum, count);
}

void PrometheusText::histogram(std::string_view name, std::span<const PrometheusLabel> labels,
                               std::span<const double> upper_bounds, std::span<const uint64_t> bucket_counts,
                               double sum, uint64_t count) {
    assert(upper_bounds.size() == bucket_counts.size());
    assert(std::is_sorted(upper_bounds.begin(), upper_bounds.end()));
    size_t buckets = std::min(upper_bounds.size(), bucket_counts.size());
    uint64_t cumulative = 0;
    for (size_t i = 0; i < buckets; ++i) {
        cumulative += bucket_counts[i];
        series(name, "_bucket", labels, prometheus_number(upper_bounds[i]));
        text_ += integer_text(cumulative);
        text_ += '\n';
    }
    count = std::max(count, cumulative);
    series(name, "_bucket", labels, "+Inf");
    text_ += integer_text(count);
    text_ += '\n';
    series(name, "_sum", labels, "");
    text_ += prometheus_number(sum);
    text_ += '\n';
    series(name, "_count", labels, "");
    text_ += integer_text(count);
    text_ += '\n';
}

}  // namespace tlsfront
