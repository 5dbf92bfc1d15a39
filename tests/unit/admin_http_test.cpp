// The admin endpoint's request-head parser (every refusal status, incremental feeding, hostile
// bytes) and its response rendering.
#include <doctest/doctest.h>

#include <string>

#include "proxy/daemon/admin_http.hpp"

using namespace tlsfront;

namespace {

int status_of(std::string_view head) {
    HttpParseResult result = parse_http_request_head(head);
    return result.is_error() ? result.status : 0;
}

const std::string kValid = "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9993\r\nUser-Agent: Prometheus/2.45\r\n"
                           "Accept: text/plain;version=0.0.4\r\n\r\n";

}  // namespace

TEST_CASE("a valid GET gives its method, the path without the query, and the head length") {
    HttpParseResult result = parse_http_request_head(kValid + "trailing body bytes");
    REQUIRE(result.is_request());
    CHECK(result.request.method == HttpMethod::get);
    CHECK(result.request.path == "/metrics");
    CHECK_FALSE(result.request.http_1_0);
    CHECK(result.request.head_length == kValid.size());
}

TEST_CASE("HEAD, HTTP/1.0 without Host, bare LF line ends and leading empty lines are accepted") {
    HttpParseResult head = parse_http_request_head("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(head.is_request());
    CHECK(head.request.method == HttpMethod::head);
    CHECK(head.request.path == "/healthz");

    HttpParseResult old = parse_http_request_head("GET / HTTP/1.0\n\n");
    REQUIRE(old.is_request());
    CHECK(old.request.http_1_0);
    CHECK(old.request.head_length == 16);

    HttpParseResult leading = parse_http_request_head("\r\n\nGET /a HTTP/1.1\nHost: x\n\n");
    REQUIRE(leading.is_request());
    CHECK(leading.request.path == "/a");

    HttpParseResult absolute = parse_http_request_head("GET http://Host:9993/metrics?q HTTP/1.1\r\nHost: h\r\n\r\n");
    REQUIRE(absolute.is_request());
    CHECK(absolute.request.path == "/metrics");
}

TEST_CASE("every split of a valid request is incomplete until the last byte, then the same request") {
    for (size_t cut = 0; cut < kValid.size(); ++cut) {
        HttpParseResult partial = parse_http_request_head(std::string_view(kValid).substr(0, cut));
        INFO("cut at ", cut);
        CHECK(partial.incomplete());
    }
    HttpParseResult whole = parse_http_request_head(kValid);
    REQUIRE(whole.is_request());
    CHECK(whole.request.path == "/metrics");
    CHECK(whole.request.head_length == kValid.size());
}

TEST_CASE("each refusal has its status") {
    CHECK(status_of("GET\r\n\r\n") == 400);
    CHECK(status_of("GET /\r\n\r\n") == 400);  // HTTP/0.9 style
    CHECK(status_of("GET  / HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(status_of("G(T / HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(status_of("GET metrics HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(status_of("GET * HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(status_of("GET / http/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\n\r\n") == 400);                       // no Host
    CHECK(status_of("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == 400);  // two Hosts
    CHECK(status_of("GET / HTTP/1.1\r\nHost x\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost : x\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\n: x\r\nHost: x\r\n\r\n") == 400);
    CHECK(status_of("POST / HTTP/1.1\r\nHost: x\r\n\r\n") == 405);
    CHECK(status_of("get / HTTP/1.1\r\nHost: x\r\n\r\n") == 405);  // methods are case-sensitive
    CHECK(status_of("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(status_of("DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n") == 405);
    CHECK(status_of("GET /" + std::string(kMaxRequestTargetBytes - 1, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
    CHECK(status_of("GET /" + std::string(kMaxRequestTargetBytes, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n") == 414);
    CHECK(status_of("GET / HTTP/2.0\r\nHost: x\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/1.2\r\nHost: x\r\n\r\n") == 505);
    CHECK(status_of("GET / HTTP/2\r\nHost: x\r\n\r\n") == 505);
    std::string big_header = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(kMaxHeadBytes, 'b') + "\r\n\r\n";
    CHECK(status_of(big_header) == 431);
}

TEST_CASE("a head of exactly the limit is accepted, one byte more is 431") {
    std::string start = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
    std::string end = "\r\n\r\n";
    std::string exact = start + std::string(kMaxHeadBytes - start.size() - end.size(), 'p') + end;
    REQUIRE(exact.size() == kMaxHeadBytes);
    CHECK(parse_http_request_head(exact).is_request());
    std::string over = start + std::string(kMaxHeadBytes - start.size() - end.size() + 1, 'p') + end;
    CHECK(status_of(over) == 431);
}

TEST_CASE("faults are reported before the head ends; endless input stops at the limit") {
    using namespace std::string_literals;
    // Unfinished heads that can no longer become valid.
    CHECK(status_of("GET /" + std::string(kMaxRequestTargetBytes + 10, 'a')) == 414);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\0"s) == 400);
    CHECK(status_of("PUT / HTTP/1.1\r\n") == 405);
    // An unfinished line may end in the CR of its CRLF.
    CHECK(parse_http_request_head("GET / HTTP/1.1\r").incomplete());
    // No line end at all: incomplete up to the limit, 431 beyond it.
    CHECK(parse_http_request_head(std::string(kMaxHeadBytes, 'G')).incomplete());
    CHECK(status_of(std::string(kMaxHeadBytes + 1, 'G')) == 431);
    CHECK(status_of(std::string(100000, '\n')) == 431);  // empty lines count toward the head
}

TEST_CASE("hostile bytes are refused with 400") {
    using namespace std::string_literals;
    CHECK(status_of("GET /a\0b HTTP/1.1\r\nHost: x\r\n\r\n"s) == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n"s) == 400);
    CHECK(status_of("GET / HTTP/1.1\rHost: x\r\n\r\n") == 400);           // bare CR ends no line
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\nA: b\rc\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\n\r\r\n") == 400);
    CHECK(status_of("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n") == 400);       // control byte in the target
    CHECK(status_of("GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(status_of("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n") == 400);  // non-ASCII
    CHECK(status_of("GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n") == 400);   // obsolete folding
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\tc\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\n Host: x\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\nA: b\x01\r\n\r\n") == 400);  // control byte in a value
    CHECK(status_of("GET / HTTP/1.1\r\nHost: x\r\nA:\tb\t\r\n\r\n") == 0);   // tabs are whitespace
    // Every single byte value in the target: only visible ASCII other than '#' is accepted.
    for (int byte = 0; byte < 256; ++byte) {
        std::string head = "GET /a";
        head += static_cast<char>(byte);
        head += " HTTP/1.1\r\nHost: x\r\n\r\n";
        bool visible = byte > 0x20 && byte < 0x7f && byte != '#';
        INFO("byte ", byte);
        CHECK(parse_http_request_head(head).is_request() == visible);
    }
}

TEST_CASE("http_response renders status, headers and body") {
    CHECK(http_response(200, "text/plain", "hello\n", false) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
          "Cache-Control: no-store\r\nConnection: close\r\n\r\nhello\n");
    // HEAD: the same head, no body.
    CHECK(http_response(200, "text/plain", "hello\n", true) ==
          "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n"
          "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
    CHECK(http_response(405, "", "", false) ==
          "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n"
          "Cache-Control: no-store\r\nConnection: close\r\n\r\n");
    CHECK(http_response(431, "", "x", false).starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    CHECK(http_response(404, "", "", false).starts_with("HTTP/1.1 404 Not Found\r\n"));
    CHECK(http_response(204, "text/plain", "ignored", false) ==
          "HTTP/1.1 204 No Content\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n");
    // A content type that would split the head is dropped; an impossible status becomes 500.
    CHECK(http_response(200, "text/plain\r\nX-Evil: 1", "", false).find("X-Evil") == std::string::npos);
    CHECK(http_response(42, "", "", false).starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
    CHECK(http_reason_phrase(505) == "HTTP Version Not Supported");
    CHECK(http_reason_phrase(414) == "URI Too Long");
}
