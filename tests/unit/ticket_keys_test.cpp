// Session-ticket keys: the key file parser, and real in-memory BoringSSL handshakes (client and
// server SSL over a BIO pair) showing which tickets resume across SSL_CTXs, rotations and periods,
// for TLS 1.3 and TLS 1.2.
#include <doctest/doctest.h>
#include <openssl/base64.h>
#include <openssl/bio.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/unit/server_identity_fixture.hpp"
#include "tls/ticket_keys.hpp"

using namespace tlsfront;
using tlsfront::test::identity;

namespace {

// ---- Key lines ----

// base64 of a key whose name is 16 times `name_byte` and whose secrets are random.
std::string key_line(uint8_t name_byte, size_t size = 80) {
    std::vector<uint8_t> bytes(size);
    RAND_bytes(bytes.data(), bytes.size());
    std::fill(bytes.begin(), bytes.begin() + std::min<size_t>(size, ticket_key_name_length), name_byte);
    std::string text(4 * ((size + 2) / 3) + 1, '\0');
    text.resize(EVP_EncodeBlock(reinterpret_cast<uint8_t*>(text.data()), bytes.data(), bytes.size()));
    return text;
}

std::array<uint8_t, ticket_key_name_length> name_of(uint8_t name_byte) {
    std::array<uint8_t, ticket_key_name_length> name;
    name.fill(name_byte);
    return name;
}

std::shared_ptr<const TicketKeyRing> ring_from(const std::string& file) {
    auto parsed = parse_ticket_key_file(file);
    REQUIRE(parsed.error == "");
    return TicketKeyRing::from_keys(std::move(parsed.keys));
}

// ---- A server (self-signed ECDSA P-256) and a client that keeps the tickets it receives ----

// One "process": an SSL_CTX set up as tlsfront's (no session cache, so resumption is by ticket).
bssl::UniquePtr<SSL_CTX> server_ctx(std::shared_ptr<const TicketKeyRing> ring) {
    bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
    REQUIRE(SSL_CTX_use_certificate(ctx.get(), identity().cert.get()));
    REQUIRE(SSL_CTX_use_PrivateKey(ctx.get(), identity().key.get()));
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(ctx.get(), reinterpret_cast<const uint8_t*>("imaps"), 5);
    if (ring) REQUIRE(install_ticket_keys(ctx.get(), std::move(ring)));
    return ctx;
}

struct Connection {
    bool established = false;
    bool reused = false;
    bssl::UniquePtr<SSL_SESSION> ticket;  // the last ticket the server sent, if any

    // The name of the key the ticket was encrypted with: its first 16 bytes.
    std::array<uint8_t, ticket_key_name_length> ticket_key_name() const {
        const uint8_t* data = nullptr;
        size_t length = 0;
        SSL_SESSION_get0_ticket(ticket.get(), &data, &length);
        std::array<uint8_t, ticket_key_name_length> name{};
        REQUIRE(length > name.size());
        std::copy(data, data + name.size(), name.begin());
        return name;
    }
};

int connection_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int keep_ticket(SSL* ssl, SSL_SESSION* session) {
    static_cast<Connection*>(SSL_get_ex_data(ssl, connection_index()))->ticket.reset(session);
    return 1;  // we took the reference
}

bool step_ok(SSL* ssl, int ret) { return ret == 1 || SSL_get_error(ssl, ret) == SSL_ERROR_WANT_READ; }

// A handshake at TLS `version` against `server`, offering `resume` if given; then one byte of
// application data, so the client has read the TLS 1.3 NewSessionTicket messages.
Connection connect(uint16_t version, SSL_CTX* server, SSL_SESSION* resume = nullptr) {
    bssl::UniquePtr<SSL_CTX> client_ctx(SSL_CTX_new(TLS_method()));
    SSL_CTX_set_min_proto_version(client_ctx.get(), version);
    SSL_CTX_set_max_proto_version(client_ctx.get(), version);
    SSL_CTX_set_session_cache_mode(client_ctx.get(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(client_ctx.get(), keep_ticket);
    bssl::UniquePtr<SSL> client(SSL_new(client_ctx.get()));
    bssl::UniquePtr<SSL> server_ssl(SSL_new(server));
    BIO* client_bio = nullptr;
    BIO* server_bio = nullptr;
    REQUIRE(BIO_new_bio_pair(&client_bio, 0, &server_bio, 0));
    SSL_set_bio(client.get(), client_bio, client_bio);
    SSL_set_bio(server_ssl.get(), server_bio, server_bio);
    SSL_set_connect_state(client.get());
    SSL_set_accept_state(server_ssl.get());
    if (resume) REQUIRE(SSL_set_session(client.get(), resume));

    Connection connection;
    SSL_set_ex_data(client.get(), connection_index(), &connection);
    for (int round = 0; round < 10 && !connection.established; ++round) {
        int client_ret = SSL_do_handshake(client.get());
        int server_ret = SSL_do_handshake(server_ssl.get());
        if (!step_ok(client.get(), client_ret) || !step_ok(server_ssl.get(), server_ret)) break;
        connection.established = client_ret == 1 && server_ret == 1;
    }
    if (connection.established) {
        uint8_t byte = 'x';
        REQUIRE(SSL_write(server_ssl.get(), &byte, 1) == 1);
        REQUIRE(SSL_read(client.get(), &byte, 1) == 1);
        connection.reused = SSL_session_reused(client.get());
    }
    SSL_set_ex_data(client.get(), connection_index(), nullptr);
    return connection;
}

const uint16_t versions[] = {TLS1_3_VERSION, TLS1_2_VERSION};

int64_t fake_time = 0;
int64_t fake_clock() { return fake_time; }

}  // namespace

TEST_CASE("ticket keys: a ticket from one process resumes on another sharing the key file") {
    std::string file = "# fleet keys\n" + key_line(1) + "\n" + key_line(2, 48) + "\n";
    auto first = server_ctx(ring_from(file));
    auto second = server_ctx(ring_from(file));
    auto unshared = server_ctx(nullptr);  // BoringSSL's own random keys
    for (uint16_t version : versions) {
        CAPTURE(version);
        Connection full = connect(version, first.get());
        REQUIRE(full.established);
        CHECK_FALSE(full.reused);
        REQUIRE(full.ticket);
        CHECK(full.ticket_key_name() == name_of(1));  // the first key encrypts

        Connection resumed = connect(version, second.get(), full.ticket.get());
        CHECK(resumed.established);
        CHECK(resumed.reused);

        Connection elsewhere = connect(version, unshared.get(), full.ticket.get());
        CHECK(elsewhere.established);
        CHECK_FALSE(elsewhere.reused);
    }
}

TEST_CASE("ticket keys: rotation by prepending a key, then dropping the old one") {
    std::string old_line = key_line(1);
    std::string new_line = key_line(2, 48);
    auto before = server_ctx(ring_from(old_line + "\n"));
    auto rotated = server_ctx(ring_from(new_line + "\n" + old_line + "\n"));
    auto dropped = server_ctx(ring_from(new_line + "\n"));
    for (uint16_t version : versions) {
        CAPTURE(version);
        Connection old_ticket = connect(version, before.get());
        REQUIRE(old_ticket.ticket);

        Connection resumed = connect(version, rotated.get(), old_ticket.ticket.get());
        CHECK(resumed.reused);
        REQUIRE(resumed.ticket);  // renewed (callback returned 2), under the new first key
        CHECK(resumed.ticket_key_name() == name_of(2));

        Connection after_drop = connect(version, dropped.get(), old_ticket.ticket.get());
        CHECK(after_drop.established);
        CHECK_FALSE(after_drop.reused);
        // The renewed ticket resumes once the old key is gone.
        CHECK(connect(version, dropped.get(), resumed.ticket.get()).reused);
    }
}

TEST_CASE("ticket keys: TLS 1.2 renews a ticket only when another key than the first decrypted it") {
    std::string line = key_line(7);
    auto ctx = server_ctx(ring_from(line + "\n" + key_line(8) + "\n"));
    Connection full = connect(TLS1_2_VERSION, ctx.get());
    REQUIRE(full.ticket);
    Connection resumed = connect(TLS1_2_VERSION, ctx.get(), full.ticket.get());
    CHECK(resumed.reused);
    CHECK_FALSE(resumed.ticket);  // callback returned 1: the ticket stays
}

TEST_CASE("ticket keys: in memory, shared by the rings of one process, for 12 to 24 hours") {
    fake_time = 1'700'000'000 - 1'700'000'000 % TicketKeyRing::rotation_seconds + 60;  // early in period N
    auto first_ring = TicketKeyRing::in_memory(fake_clock);
    auto first = server_ctx(first_ring);
    auto second = server_ctx(TicketKeyRing::in_memory(fake_clock));  // as after a reload
    CHECK(first_ring->key_count() == 2);
    CHECK(first_ring->describe() == "in memory, rotated every 12h");
    for (uint16_t version : versions) {
        CAPTURE(version);
        int64_t issued = fake_time;
        Connection full = connect(version, first.get());
        REQUIRE(full.ticket);
        CHECK(connect(version, second.get(), full.ticket.get()).reused);

        fake_time = issued + TicketKeyRing::rotation_seconds;  // period N+1
        Connection next = connect(version, second.get(), full.ticket.get());
        CHECK(next.reused);
        REQUIRE(next.ticket);
        CHECK(next.ticket_key_name() != full.ticket_key_name());  // renewed under N+1's key

        fake_time = issued + 2 * TicketKeyRing::rotation_seconds;  // period N+2
        Connection expired = connect(version, first.get(), full.ticket.get());
        CHECK(expired.established);
        CHECK_FALSE(expired.reused);
        CHECK(connect(version, first.get(), next.ticket.get()).reused);  // N+1's ticket still does
        fake_time = issued;
    }
}

TEST_CASE("ticket keys: in-memory keys per period") {
    auto ring = TicketKeyRing::in_memory();
    int64_t start = 1'700'000'000 - 1'700'000'000 % TicketKeyRing::rotation_seconds;
    const auto name_n = ring->encrypting_key(start).name;
    CHECK(ring->encrypting_key(start + TicketKeyRing::rotation_seconds - 1).name == name_n);
    const auto name_n1 = ring->encrypting_key(start + TicketKeyRing::rotation_seconds).name;
    CHECK(name_n1 != name_n);
    CHECK(ring->encrypting_key(start).aes_key.size() == 32);
    CHECK(ring->encrypting_key(start).hmac_key.size() == 32);
    auto at_n1 = ring->find(name_n, start + TicketKeyRing::rotation_seconds);
    CHECK(at_n1.key);
    CHECK_FALSE(at_n1.encrypts);
    CHECK(ring->find(name_n1, start + TicketKeyRing::rotation_seconds).encrypts);
    CHECK_FALSE(ring->find(name_n, start + 2 * TicketKeyRing::rotation_seconds).key);
}

TEST_CASE("ticket keys: the ring lives as long as its SSL_CTX, and a second install replaces it") {
    std::weak_ptr<const TicketKeyRing> watched;
    {
        auto ring = ring_from(key_line(3) + "\n" + key_line(4) + "\n" + key_line(5) + "\n");
        CHECK(ring->key_count() == 3);
        CHECK(ring->describe() == "file, 3 keys");
        watched = ring;
        auto ctx = server_ctx(ring);
        ring.reset();
        CHECK_FALSE(watched.expired());
        auto replacement = ring_from(key_line(6) + "\n");
        CHECK(replacement->describe() == "file, 1 key");
        REQUIRE(install_ticket_keys(ctx.get(), replacement));
        CHECK(watched.expired());
        CHECK(connect(TLS1_3_VERSION, ctx.get()).ticket_key_name() == name_of(6));
        watched = replacement;
        replacement.reset();
        CHECK_FALSE(watched.expired());
        CHECK_FALSE(install_ticket_keys(ctx.get(), nullptr));
    }
    CHECK(watched.expired());
}

TEST_CASE("ticket keys: from_keys refuses what the parser would") {
    auto keys = parse_ticket_key_file(key_line(1) + "\n" + key_line(2) + "\n").keys;
    REQUIRE(keys.size() == 2);
    CHECK(TicketKeyRing::from_keys(keys));
    CHECK_FALSE(TicketKeyRing::from_keys({}));
    auto twice = keys;
    twice[1].name = twice[0].name;
    CHECK_FALSE(TicketKeyRing::from_keys(twice));
    auto short_key = keys;
    short_key[0].aes_key.resize(24);
    CHECK_FALSE(TicketKeyRing::from_keys(short_key));
    CHECK_FALSE(TicketKeyRing::from_keys(std::vector<TicketKey>(max_ticket_keys + 1, keys[0])));
}

TEST_CASE("ticket key file: valid files") {
    std::string line80 = key_line(1, 80);
    std::string line48 = key_line(2, 48);
    REQUIRE(line80.back() == '=');  // 80 bytes encode with one '=' of padding
    std::string unpadded = line80.substr(0, line80.find('='));
    auto parsed = parse_ticket_key_file("# keys\n\n   \n  # indented comment\n\t" + unpadded + "  \r\n" + line48);
    REQUIRE(parsed.error == "");
    REQUIRE(parsed.keys.size() == 2);
    CHECK(parsed.keys[0].name == name_of(1));
    CHECK(parsed.keys[0].aes_key.size() == 32);
    CHECK(parsed.keys[0].hmac_key.size() == 32);
    CHECK(parsed.keys[1].name == name_of(2));
    CHECK(parsed.keys[1].aes_key.size() == 16);
    CHECK(parsed.keys[1].hmac_key.size() == 16);
    CHECK(parse_ticket_key_file(line80).keys.size() == 1);

    // The layout: name, AES key, HMAC key, in that order.
    std::vector<uint8_t> bytes(48);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i);
    std::string text(65, '\0');
    text.resize(EVP_EncodeBlock(reinterpret_cast<uint8_t*>(text.data()), bytes.data(), bytes.size()));
    auto layout = parse_ticket_key_file(text);
    REQUIRE(layout.keys.size() == 1);
    CHECK(layout.keys[0].name[15] == 15);
    CHECK(layout.keys[0].aes_key == std::vector<uint8_t>(bytes.begin() + 16, bytes.begin() + 32));
    CHECK(layout.keys[0].hmac_key == std::vector<uint8_t>(bytes.begin() + 32, bytes.end()));

    std::string full;
    for (int i = 0; i < 64; ++i) full += key_line(static_cast<uint8_t>(i)) + "\n";
    CHECK(parse_ticket_key_file(full).keys.size() == 64);
}

TEST_CASE("ticket key file: each error names its line") {
    std::string good = key_line(1) + "\n";
    auto error = [](const std::string& text) {
        auto parsed = parse_ticket_key_file(text);
        CHECK(parsed.keys.empty());
        return parsed.error;
    };
    CHECK(error("# comment\n" + good + "not*base64!\n") == "line 3: not valid base64");
    CHECK(error(good + key_line(2).insert(20, " ")) == "line 2: not valid base64");
    CHECK(error(good + "AAAAA") == "line 2: not valid base64");  // 5 characters: no base64 length
    CHECK(error("\n" + key_line(2, 32)) == "line 2: key decodes to 32 bytes, want 48 or 80");
    CHECK(error(key_line(2, 64)) == "line 1: key decodes to 64 bytes, want 48 or 80");
    CHECK(error(good + "\n" + key_line(2) + "\n" + key_line(1, 48)) ==
          "line 4: key name already used by the key on line 1");
    CHECK(error("") == "no key in the file");
    CHECK(error("# nothing\n\n  \n") == "no key in the file");
    std::string too_many;
    for (int i = 0; i < 65; ++i) too_many += key_line(static_cast<uint8_t>(i)) + "\n";
    CHECK(error("# many\n" + too_many) == "line 66: more than 64 keys");
}
