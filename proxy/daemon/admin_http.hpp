// The admin endpoint's HTTP/1.1: a bounded, pure parser of one request head (no I/O: it is fed
// everything received so far and says incomplete, a request, or the error status to answer) and
// the rendering of a complete `Connection: close` response.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tlsfront {

// The admin endpoint's bounds. A head longer than kMaxHeadBytes is refused with 431 without being
// read further, so a receive buffer of kMaxHeadBytes + 1 bytes is always enough.
constexpr size_t kMaxRequestTargetBytes = 1024;
constexpr size_t kMaxHeadBytes = 8192;

enum class HttpMethod { get, head };

struct HttpRequest {
    HttpMethod method = HttpMethod::get;
    std::string path;          // the target up to '?' (not percent-decoded): "/metrics"
    bool http_1_0 = false;     // HTTP/1.0 rather than HTTP/1.1
    size_t head_length = 0;    // bytes up to and including the blank line that ends the head
};

struct HttpParseResult {
    enum class Kind { incomplete, request, error };
    Kind kind = Kind::incomplete;
    HttpRequest request;          // when kind == request
    int status = 0;               // when kind == error: 400, 405, 414, 431 or 505
    std::string_view cause;       // when kind == error: a static text naming the fault

    bool incomplete() const { return kind == Kind::incomplete; }
    bool is_request() const { return kind == Kind::request; }
    bool is_error() const { return kind == Kind::error; }
};

// `received` is every byte received on the connection so far. Accepts CRLF and bare LF line ends
// and ignores empty lines before the request line. Refuses NUL and bare CR anywhere in the head,
// control bytes and non-ASCII in the target, obsolete line folding, a missing or repeated Host in
// HTTP/1.1 (400); methods other than GET and HEAD (405); targets over kMaxRequestTargetBytes
// (414); heads over kMaxHeadBytes (431); versions other than HTTP/1.0 and HTTP/1.1 (505).
// Faults in complete lines are reported as soon as those lines are in, before the head ends.
HttpParseResult parse_http_request_head(std::string_view received);

// "OK", "Not Found", ...; "Unknown" for a status it does not know.
std::string_view http_reason_phrase(int status);

// A complete response: status line, Content-Type (left out when empty), Content-Length,
// Cache-Control: no-store, Connection: close (and Allow: GET, HEAD for 405), then the body unless
// `head_only` (HEAD still gets the Content-Length of the body it would have had).
std::string http_response(int status, std::string_view content_type, std::string_view body, bool head_only);

}  // namespace tlsfront
