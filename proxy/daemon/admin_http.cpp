// The request-head parser works line by line over what has been received, never looking past
// kMaxHeadBytes, so its cost and what it accepts are bounded whatever the client sends.
#include "proxy/daemon/admin_http.hpp"

#include <algorithm>
#include <cstring>
#include <optional>

#include "proxy/common/ascii.hpp"

namespace tlsfront {
namespace {

HttpParseResult fault(int status, std::string_view cause) {
    HttpParseResult result;
    result.kind = HttpParseResult::Kind::error;
    result.status = status;
    result.cause = cause;
    return result;
}

// RFC 9110 tchar: the bytes of a method or a header name.
bool is_token_char(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// One line of the head without its line end; `next` is the offset after its LF.
struct Line {
    std::string_view text;
    size_t next = 0;
};

// The line starting at `pos`, or nothing when its LF is not within the first kMaxHeadBytes.
std::optional<Line> line_at(std::string_view in, size_t pos) {
    size_t end = std::min(in.size(), kMaxHeadBytes);
    if (pos >= end) return std::nullopt;
    const void* lf = std::memchr(in.data() + pos, '\n', end - pos);
    if (!lf) return std::nullopt;
    size_t lf_pos = static_cast<size_t>(static_cast<const char*>(lf) - in.data());
    std::string_view text = in.substr(pos, lf_pos - pos);
    if (text.ends_with('\r')) text.remove_suffix(1);
    return Line{text, lf_pos + 1};
}

// NUL and bare CR are refused everywhere in the head (request smuggling through lenient parsers).
// In the unfinished last line a final CR may still be followed by its LF.
std::string_view byte_fault(std::string_view text, bool unfinished) {
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\0') return "NUL byte in the request head";
        if (text[i] == '\r' && !(unfinished && i + 1 == text.size())) return "bare CR in the request head";
    }
    return {};
}

// The path of an origin-form ("/metrics?x") or absolute-form ("http://host/metrics") target.
std::optional<std::string_view> target_path(std::string_view target) {
    for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
        if (target.size() >= scheme.size() && ascii_iequals(target.substr(0, scheme.size()), scheme)) {
            size_t slash = target.find('/', scheme.size());
            target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
            break;
        }
    }
    if (!target.starts_with('/')) return std::nullopt;
    return target.substr(0, target.find('?'));
}

HttpParseResult parse_request_line(std::string_view line, HttpRequest& request) {
    size_t first_space = line.find(' ');
    if (first_space == std::string_view::npos) return fault(400, "request line without a target");
    std::string_view method = line.substr(0, first_space);
    std::string_view rest = line.substr(first_space + 1);
    size_t second_space = rest.find(' ');
    if (second_space == std::string_view::npos) return fault(400, "request line without a version");
    std::string_view target = rest.substr(0, second_space);
    std::string_view version = rest.substr(second_space + 1);
    if (!is_token(method)) return fault(400, "malformed method");
    if (version == "HTTP/1.1" || version == "HTTP/1.0") {
        request.http_1_0 = version == "HTTP/1.0";
    } else if (version.size() >= 6 && version.starts_with("HTTP/") && is_digit(version[5]) &&
               (version.size() == 6 || (version.size() == 8 && version[6] == '.' && is_digit(version[7])))) {
        return fault(505, "HTTP version other than 1.0 and 1.1");
    } else {
        return fault(400, "malformed version");
    }
    if (target.size() > kMaxRequestTargetBytes) return fault(414, "request target too long");
    for (char c : target) {
        auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte >= 0x7f || c == '#') return fault(400, "control, non-ASCII or '#' byte in the target");
    }
    std::optional<std::string_view> path = target_path(target);
    if (!path) return fault(400, "request target is neither origin-form nor absolute-form");
    if (method == "GET") {
        request.method = HttpMethod::get;
    } else if (method == "HEAD") {
        request.method = HttpMethod::head;
    } else {
        return fault(405, "method other than GET and HEAD");
    }
    request.path = std::string(*path);
    return {};
}

// Counts Host fields into `host_fields`; an empty view means the field is fine.
std::string_view header_fault(std::string_view line, unsigned& host_fields) {
    if (line.front() == ' ' || line.front() == '\t') return "obsolete line folding";
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return "header line without a colon";
    std::string_view name = line.substr(0, colon);
    if (!is_token(name)) return "malformed header name";
    for (char c : line.substr(colon + 1)) {
        auto byte = static_cast<unsigned char>(c);
        if ((byte < 0x20 && c != '\t') || byte == 0x7f) return "control byte in a header value";
    }
    if (ascii_iequals(name, "host")) ++host_fields;
    return {};
}

// What an unfinished request line already rules out: a target that is too long.
std::optional<HttpParseResult> unfinished_request_line_fault(std::string_view partial) {
    size_t first_space = partial.find(' ');
    if (first_space == std::string_view::npos) return std::nullopt;
    std::string_view target = partial.substr(first_space + 1);
    target = target.substr(0, target.find(' '));
    if (target.size() > kMaxRequestTargetBytes) return fault(414, "request target too long");
    return std::nullopt;
}

}  // namespace

HttpParseResult parse_http_request_head(std::string_view in) {
    HttpRequest request;
    bool have_request_line = false;
    unsigned host_fields = 0;
    size_t pos = 0;
    while (std::optional<Line> line = line_at(in, pos)) {
        pos = line->next;
        if (std::string_view cause = byte_fault(line->text, false); !cause.empty()) return fault(400, cause);
        if (!have_request_line) {
            if (line->text.empty()) continue;  // RFC 9112 2.2: empty lines before the request line
            HttpParseResult result = parse_request_line(line->text, request);
            if (result.is_error()) return result;
            have_request_line = true;
        } else if (line->text.empty()) {
            if (host_fields > 1 || (host_fields == 0 && !request.http_1_0))
                return fault(400, "HTTP/1.1 request without exactly one Host field");
            request.head_length = pos;
            HttpParseResult result;
            result.kind = HttpParseResult::Kind::request;
            result.request = std::move(request);
            return result;
        } else if (std::string_view cause = header_fault(line->text, host_fields); !cause.empty()) {
            return fault(400, cause);
        }
    }
    // pos never passes the scanned part: every line ended within it.
    std::string_view partial = in.substr(pos, std::min(in.size(), kMaxHeadBytes) - pos);
    if (std::string_view cause = byte_fault(partial, true); !cause.empty()) return fault(400, cause);
    if (!have_request_line)
        if (std::optional<HttpParseResult> result = unfinished_request_line_fault(partial)) return *result;
    if (in.size() > kMaxHeadBytes) return fault(431, "request head too large");
    return {};
}

std::string_view http_reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

std::string http_response(int status, std::string_view content_type, std::string_view body, bool head_only) {
    if (status < 200 || status > 599) status = 500;  // 1xx are interim: never a final answer here
    // RFC 9110 8.6: 204 carries neither a body nor a Content-Length.
    bool bodyless = status == 204;
    bool send_body = !head_only && !bodyless;
    // A value with CR or LF would split the head: content types come from code, drop a bad one.
    bool content_type_ok = !content_type.empty() && content_type.find_first_of("\r\n") == std::string_view::npos;

    std::string out;
    out.reserve(192 + content_type.size() + (send_body ? body.size() : 0));
    out += "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += http_reason_phrase(status);
    out += "\r\n";
    if (content_type_ok && !bodyless) {
        out += "Content-Type: ";
        out += content_type;
        out += "\r\n";
    }
    if (status == 405) out += "Allow: GET, HEAD\r\n";
    if (!bodyless) {
        out += "Content-Length: ";
        out += std::to_string(body.size());
        out += "\r\n";
    }
    out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
    if (send_body) out += body;
    return out;
}

}  // namespace tlsfront
