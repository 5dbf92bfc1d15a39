// tlsfront-openssl-bulk: bulk transfers through a TLS proxy with OpenSSL 3 as the client's TLS
// library (not BoringSSL, not tlsfront-bench's io_uring loop), so a bulk figure does not depend on
// the project's own client. One thread and one blocking socket per connection, TLS 1.3, no
// certificate verification (a benchmark), 256 KiB reads and writes; it speaks the
// `tlsfront-bench backend` protocol: `STREAM n` (download) or `SINK n` + n bytes (upload).
//
//   tlsfront-openssl-bulk download|upload --connect HOST:PORT --connections C --bytes N [--sni NAME]
//
// Prints one JSON line; exit 0 without errors, 1 with errors, 2 for a bad command line.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kChunk = 256 * 1024;

struct Options {
    bool upload = false;
    std::string host, port, sni;
    unsigned connections = 8;
    unsigned long long bytes = 0;
};

struct Outcome {
    std::atomic<unsigned long long> bytes{0};
    std::atomic<unsigned> errors{0};
    std::mutex mutex;
    std::string first_error;

    void fail(const std::string& why) {
        errors.fetch_add(1);
        std::lock_guard lock(mutex);
        if (first_error.empty()) first_error = why;
    }
};

int connect_tcp(const Options& o) {
    addrinfo hints{}, *found = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &found) != 0) return -1;
    int fd = socket(found->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    int one = 1;
    if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

std::string ssl_error(const char* what) {
    char text[256];
    ERR_error_string_n(ERR_get_error(), text, sizeof text);
    return std::string(what) + ": " + text;
}

bool write_all(SSL* ssl, const char* data, size_t size) {
    while (size > 0) {
        size_t written = 0;
        if (SSL_write_ex(ssl, data, size, &written) != 1) return false;
        data += written;
        size -= written;
    }
    return true;
}

// One connection, start to close_notify; returns an error text, empty on success.
std::string transfer(SSL_CTX* ctx, const Options& o, Outcome& outcome) {
    int fd = connect_tcp(o);
    if (fd < 0) return "connect failed";
    std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx), SSL_free);
    SSL_set_fd(ssl.get(), fd);
    if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl.get(), o.sni.c_str());
    std::string error;
    std::vector<char> buffer(kChunk, 'u');
    if (SSL_connect(ssl.get()) != 1) {
        error = ssl_error("handshake");
    } else if (!o.upload) {
        std::string command = "STREAM " + std::to_string(o.bytes) + "\r\n";
        unsigned long long got = 0;
        size_t n = 0;
        if (!write_all(ssl.get(), command.data(), command.size())) error = ssl_error("write");
        while (error.empty() && SSL_read_ex(ssl.get(), buffer.data(), buffer.size(), &n) == 1) got += n;
        if (error.empty() && SSL_get_error(ssl.get(), 0) != SSL_ERROR_ZERO_RETURN) error = ssl_error("read");
        outcome.bytes.fetch_add(got);
        if (error.empty() && got != o.bytes)
            error = "received " + std::to_string(got) + " of " + std::to_string(o.bytes) + " bytes";
    } else {
        std::string command = "SINK " + std::to_string(o.bytes) + "\r\n";
        bool ok = write_all(ssl.get(), command.data(), command.size());
        for (unsigned long long left = o.bytes; ok && left > 0;) {
            size_t n = left < kChunk ? static_cast<size_t>(left) : kChunk;
            ok = write_all(ssl.get(), buffer.data(), n);
            left -= n;
        }
        std::string reply;
        size_t n = 0;
        while (ok && reply.find('\n') == std::string::npos && SSL_read_ex(ssl.get(), buffer.data(), 64, &n) == 1)
            reply.append(buffer.data(), n);
        std::string expected = "OK " + std::to_string(o.bytes) + "\r\n";
        if (!ok) error = ssl_error("write");
        else if (reply != expected) error = "backend answered '" + reply.substr(0, 60) + "'";
        else outcome.bytes.fetch_add(o.bytes);
    }
    if (error.empty()) SSL_shutdown(ssl.get());
    close(fd);
    return error;
}

bool parse(int argc, char** argv, Options& o) {
    if (argc < 2) return false;
    std::string mode = argv[1];
    if (mode != "download" && mode != "upload") return false;
    o.upload = mode == "upload";
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string key = argv[i], value = argv[i + 1];
        if (key == "--connect") {
            auto colon = value.rfind(':');
            if (colon == std::string::npos) return false;
            o.host = value.substr(0, colon);
            o.port = value.substr(colon + 1);
            if (o.host.size() > 2 && o.host.front() == '[') o.host = o.host.substr(1, o.host.size() - 2);
        } else if (key == "--connections") {
            o.connections = static_cast<unsigned>(std::strtoul(value.c_str(), nullptr, 10));
        } else if (key == "--bytes") {
            o.bytes = std::strtoull(value.c_str(), nullptr, 10);
        } else if (key == "--sni") {
            o.sni = value;
        } else {
            return false;
        }
    }
    return (argc % 2) == 0 && !o.host.empty() && o.connections > 0 && o.connections <= 4096 && o.bytes > 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(stderr, "usage: tlsfront-openssl-bulk download|upload --connect HOST:PORT --connections C "
                             "--bytes N [--sni NAME]\n");
        return 2;
    }
    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
    // The suite every proxy's figure uses (OpenSSL would offer AES-256-GCM first).
    SSL_CTX_set_ciphersuites(ctx.get(), "TLS_AES_128_GCM_SHA256");
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    Outcome outcome;
    auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < o.connections; ++i)
        threads.emplace_back([&] {
            std::string error = transfer(ctx.get(), o, outcome);
            if (!error.empty()) outcome.fail(error);
        });
    for (auto& t : threads) t.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string escaped;
    for (char c : outcome.first_error) escaped += (c == '"' || c == '\\') ? '\'' : (c < 32 ? ' ' : c);
    std::printf("{\"mode\": \"%s\", \"connections\": %u, \"bytes_per_connection\": %llu, \"bytes_total\": %llu, "
                "\"seconds\": %.3f, \"mb_per_s\": %.1f, \"errors\": %u, \"first_error\": \"%s\", \"tls_library\": \"%s\"}\n",
                o.upload ? "upload" : "download", o.connections, o.bytes, outcome.bytes.load(), seconds,
                outcome.bytes.load() / seconds / 1e6, outcome.errors.load(), escaped.c_str(), OpenSSL_version(OPENSSL_VERSION));
    return outcome.errors.load() == 0 ? 0 : 1;
}
