// Tls13Records against a real BoringSSL client: after an in-memory TLS 1.3 handshake the server's
// record layer is taken over, and every record either way must be what BoringSSL reads and writes.
#include <doctest/doctest.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <string>
#include <vector>

#include "tests/unit/server_identity_fixture.hpp"
#include "tls/tls13_records.hpp"

using namespace tlsfront;
using Opened = Tls13Records::Opened;

namespace {

struct Pair : test::HandshakePair {
    std::unique_ptr<Tls13Records> records;

    explicit Pair(uint16_t version = TLS1_3_VERSION) : HandshakePair(version) {
        REQUIRE(established());
        REQUIRE(SSL_write(server.get(), "", 0) >= 0);  // the tickets go out before the takeover
        records = Tls13Records::take_over(server.get());
    }

    std::vector<uint8_t> from_client() {
        std::vector<uint8_t> bytes(BIO_ctrl_pending(server_bio));
        if (!bytes.empty()) REQUIRE(BIO_read(server_bio, bytes.data(), static_cast<int>(bytes.size())) == int(bytes.size()));
        return bytes;
    }
    void to_client(const uint8_t* data, size_t size) {
        REQUIRE(BIO_write(server_bio, data, static_cast<int>(size)) == int(size));
    }
    std::string client_reads() {
        std::string got;
        char buffer[20000];
        int n;
        while ((n = SSL_read(client.get(), buffer, sizeof buffer)) > 0) got.append(buffer, static_cast<size_t>(n));
        return got;
    }
    // Seals `text` in records of at most 16 KiB, as the relay does.
    void seal_to_client(const std::string& text) {
        Tls13Records::Cipher cipher(*records, Tls13Records::Direction::write);
        std::vector<uint8_t> out(Tls13Records::kMaxPlaintext + Tls13Records::kSealOverhead);
        for (size_t at = 0; at < text.size(); at += Tls13Records::kMaxPlaintext) {
            std::string piece = text.substr(at, Tls13Records::kMaxPlaintext);
            size_t n = records->seal(cipher, 23, {reinterpret_cast<const uint8_t*>(piece.data()), piece.size()}, out.data());
            REQUIRE(n == piece.size() + Tls13Records::kSealOverhead);
            to_client(out.data(), n);
        }
    }
    // Opens every whole record in `in`: the application data, and how the last record ended.
    Opened open_all(const std::vector<uint8_t>& in, std::string& data, Tls13Records::OpenResult* last = nullptr) {
        Tls13Records::Cipher cipher(*records, Tls13Records::Direction::read);
        std::vector<uint8_t> out(Tls13Records::kMaxRecord);
        std::span<const uint8_t> rest(in);
        Tls13Records::OpenResult result{Opened::incomplete};
        while (!rest.empty()) {
            result = records->open(cipher, rest, out.data(), out.size());
            if (last) *last = result;
            if (result.what == Opened::data) data.append(reinterpret_cast<char*>(out.data()), result.length);
            if (result.what == Opened::failed || result.what == Opened::incomplete) return result.what;
            rest = rest.subspan(result.consumed);
        }
        return result.what;
    }
};

}  // namespace

TEST_CASE("tls13 records: application data both ways, 100,000 bytes in records of 16 KiB") {
    // BoringSSL does not let a client choose among the TLS 1.3 suites; it takes AES-128-GCM on
    // AES hardware (ChaCha20-Poly1305 otherwise), and the other keys come from the same code.
    Pair pair;
    REQUIRE(pair.records);
    CAPTURE(SSL_CIPHER_get_name(SSL_get_current_cipher(pair.server.get())));
    std::string big(100000, 'x');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
    pair.seal_to_client(big);
    CHECK(pair.client_reads() == big);
    REQUIRE(SSL_write(pair.client.get(), big.data(), static_cast<int>(big.size())) == int(big.size()));
    std::string got;
    CHECK(pair.open_all(pair.from_client(), got) == Opened::data);
    CHECK(got == big);
    CHECK(pair.records->records_opened() == 7);  // 100,000 bytes: six full records and one more
}

TEST_CASE("tls13 records: TLS 1.2 stays with BoringSSL") {
    Pair pair(TLS1_2_VERSION);
    CHECK_FALSE(pair.records);
}

TEST_CASE("tls13 records: a record split anywhere is incomplete until its last byte") {
    Pair pair;
    REQUIRE(pair.records);
    REQUIRE(SSL_write(pair.client.get(), "hello", 5) == 5);
    std::vector<uint8_t> record = pair.from_client();
    REQUIRE(record.size() == 5 + Tls13Records::kSealOverhead);
    Tls13Records::Cipher cipher(*pair.records, Tls13Records::Direction::read);
    uint8_t out[64];
    for (size_t cut = 0; cut < record.size(); ++cut) {
        auto result = pair.records->open(cipher, {record.data(), cut}, out, sizeof out);
        CHECK(result.what == Opened::incomplete);
        CHECK(result.length == (cut >= 5 ? record.size() : 0));
    }
    CHECK(pair.records->open(cipher, record, out, 4).what == Opened::no_room);
    auto result = pair.records->open(cipher, record, out, sizeof out);
    CHECK(result.what == Opened::data);
    CHECK(result.consumed == record.size());
    CHECK(std::string(reinterpret_cast<char*>(out), result.length) == "hello");
}

TEST_CASE("tls13 records: a changed byte anywhere is a bad record mac, and the client hears the alert") {
    Pair pair;
    REQUIRE(pair.records);
    REQUIRE(SSL_write(pair.client.get(), "secret", 6) == 6);
    std::vector<uint8_t> record = pair.from_client();
    for (size_t i = 5; i < record.size(); ++i) {
        std::vector<uint8_t> changed = record;
        changed[i] ^= 0x40;
        Tls13Records::OpenResult last;
        std::string data;
        CHECK(pair.open_all(changed, data, &last) == Opened::failed);
        CHECK(last.alert == SSL_AD_BAD_RECORD_MAC);
        CHECK(data.empty());
    }
    uint8_t alert[2 + Tls13Records::kSealOverhead];
    size_t n = pair.records->seal_alert(SSL_AD_BAD_RECORD_MAC, alert);
    REQUIRE(n == sizeof alert);
    pair.to_client(alert, n);
    char byte;
    CHECK(SSL_read(pair.client.get(), &byte, 1) <= 0);
    CHECK(SSL_get_error(pair.client.get(), -1) == SSL_ERROR_SSL);
}

TEST_CASE("tls13 records: close_notify either way") {
    Pair pair;
    REQUIRE(pair.records);
    REQUIRE(SSL_write(pair.client.get(), "last", 4) == 4);
    REQUIRE(SSL_shutdown(pair.client.get()) == 0);
    std::string data;
    CHECK(pair.open_all(pair.from_client(), data) == Opened::close_notify);
    CHECK(data == "last");
    uint8_t alert[2 + Tls13Records::kSealOverhead];
    pair.to_client(alert, pair.records->seal_alert(0, alert));
    char byte;
    CHECK(SSL_read(pair.client.get(), &byte, 1) == 0);
    CHECK(SSL_get_error(pair.client.get(), 0) == SSL_ERROR_ZERO_RETURN);
}

TEST_CASE("tls13 records: the client's fatal alert ends the stream with its name") {
    Pair pair;
    REQUIRE(pair.records);
    // BoringSSL sends a fatal alert when it reads a record it cannot open: a garbled one.
    uint8_t junk[40] = {23, 3, 3, 0, 35};
    pair.to_client(junk, sizeof junk);
    char byte;
    CHECK(SSL_read(pair.client.get(), &byte, 1) < 0);
    Tls13Records::OpenResult last;
    std::string data;
    CHECK(pair.open_all(pair.from_client(), data, &last) == Opened::failed);
    CHECK(last.alert == 0);
    CHECK(std::string(last.error) == "SSLV3_ALERT_BAD_RECORD_MAC");
}

TEST_CASE("tls13 records: KeyUpdate from the client, with and without a request for ours") {
    Pair pair;
    REQUIRE(pair.records);
    for (int requested : {SSL_KEY_UPDATE_NOT_REQUESTED, SSL_KEY_UPDATE_REQUESTED}) {
        CAPTURE(requested);
        REQUIRE(SSL_key_update(pair.client.get(), requested));
        REQUIRE(SSL_write(pair.client.get(), "after", 5) == 5);  // sends the KeyUpdate, then data under the new key
        std::string data;
        CHECK(pair.open_all(pair.from_client(), data) == Opened::data);
        CHECK(data == "after");
        CHECK(pair.records->key_update_owed() == (requested == SSL_KEY_UPDATE_REQUESTED));
        if (pair.records->key_update_owed()) {
            uint8_t update[5 + Tls13Records::kSealOverhead];
            size_t n = pair.records->seal_key_update(update);
            REQUIRE(n == sizeof update);
            pair.to_client(update, n);
            CHECK_FALSE(pair.records->key_update_owed());
        }
        pair.seal_to_client("reply");  // under our new key when the client asked for it
        CHECK(pair.client_reads() == "reply");
    }
}

TEST_CASE("tls13 records: hostile records are refused with the alert BoringSSL would send") {
    Pair pair;
    REQUIRE(pair.records);
    Tls13Records::Cipher cipher(*pair.records, Tls13Records::Direction::read);
    uint8_t out[64];
    const uint8_t plaintext_alert[] = {21, 3, 3, 0, 2, 2, 40};
    CHECK(pair.records->open(cipher, plaintext_alert, out, sizeof out).alert == SSL_AD_UNEXPECTED_MESSAGE);
    const uint8_t old_version[] = {23, 3, 1, 0, 20};
    CHECK(pair.records->open(cipher, old_version, out, sizeof out).alert == SSL_AD_PROTOCOL_VERSION);
    const uint8_t too_long[] = {23, 3, 3, 0x41, 0x01};
    CHECK(pair.records->open(cipher, too_long, out, sizeof out).alert == SSL_AD_RECORD_OVERFLOW);
    const uint8_t too_short[] = {23, 3, 3, 0, 16};
    CHECK(pair.records->open(cipher, too_short, out, sizeof out).alert == SSL_AD_BAD_RECORD_MAC);
    // Well-formed header, garbage body: the MAC check fails before anything is looked at.
    CHECK(pair.records->open(cipher, std::vector<uint8_t>(100, 23), out, sizeof out).what == Opened::failed);
}
