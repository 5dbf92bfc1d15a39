// fuzz_tls13_records: the TLS 1.3 record layer tlsfront takes over after the handshake, fed what
// a hostile client can send. Most records are sealed with the client's real keys (so the content
// type, alert and KeyUpdate parsing behind the MAC check is reached), some are raw bytes, and the
// stream is opened in pieces of any size as the relay does. Checks: nothing is read past the
// input, no record is bigger than TLS allows, and after a failure nothing more is opened.
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "tests/unit/server_identity_fixture.hpp"
#include "tls/tls13_records.hpp"

using namespace tlsfront;

namespace {

struct TakenOver {
    std::unique_ptr<Tls13Records> server;
    std::unique_ptr<Tls13Records> client;  // its write keys are the server's read keys
};

// One in-memory TLS 1.3 handshake, made once: every input starts from copies of its record layers.
const TakenOver& taken_over() {
    static const TakenOver made = [] {
        test::HandshakePair pair;
        if (!pair.established() || SSL_write(pair.server.get(), "", 0) < 0) std::abort();
        TakenOver result{Tls13Records::take_over(pair.server.get()), Tls13Records::take_over(pair.client.get())};
        if (!result.server || !result.client) std::abort();
        return result;
    }();
    return made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Tls13Records server = *taken_over().server;
    Tls13Records client = *taken_over().client;
    // The stream the client sends: [op][length][bytes] pieces.
    std::vector<uint8_t> stream;
    size_t at = 0;
    size_t piece_size = size > 0 ? 1 + data[at++] % 64 * 300 : 1;  // how the relay's receives split it
    while (at + 2 <= size && stream.size() < 100000) {
        uint8_t op = data[at++];
        size_t wanted = data[at++] * 70u;
        size_t length = std::min<size_t>(wanted, size - at);
        std::span<const uint8_t> bytes(data + at, length);
        at += length;
        std::vector<uint8_t> record(Tls13Records::kMaxPlaintext + Tls13Records::kSealOverhead);
        size_t n = 0;
        switch (op % 5) {
        case 0: case 1: case 2: {  // application data, alert, handshake body, under the real key
            static constexpr uint8_t kTypes[] = {23, 21, 22};
            Tls13Records::Cipher cipher(client, Tls13Records::Direction::write);
            n = client.seal(cipher, kTypes[op % 5], bytes.first(std::min(bytes.size(), Tls13Records::kMaxPlaintext)),
                            record.data());
            break;
        }
        case 3: n = client.seal_key_update(record.data()); break;  // and the client's key moves on
        default: stream.insert(stream.end(), bytes.begin(), bytes.end()); break;  // raw bytes
        }
        stream.insert(stream.end(), record.begin(), record.begin() + static_cast<ptrdiff_t>(n));
    }

    std::vector<uint8_t> pending;  // what the relay has received and not consumed yet
    std::vector<uint8_t> out(Tls13Records::kMaxRecord);
    Tls13Records::Cipher cipher(server, Tls13Records::Direction::read);
    for (size_t fed = 0; fed < stream.size();) {
        size_t take = std::min(piece_size, stream.size() - fed);
        pending.insert(pending.end(), stream.begin() + static_cast<ptrdiff_t>(fed),
                       stream.begin() + static_cast<ptrdiff_t>(fed + take));
        fed += take;
        while (true) {
            Tls13Records::OpenResult result = server.open(cipher, pending, out.data(), out.size());
            if (result.what == Tls13Records::Opened::failed) {
                if (!result.error) std::abort();
                return 0;  // the connection would end here
            }
            if (result.what == Tls13Records::Opened::incomplete || result.what == Tls13Records::Opened::no_room) break;
            if (result.consumed == 0 || result.consumed > pending.size()) std::abort();
            if (result.consumed > Tls13Records::kMaxRecord || result.length > Tls13Records::kMaxPlaintext) std::abort();
            if (result.what == Tls13Records::Opened::close_notify) return 0;
            if (server.key_update_owed()) {
                uint8_t update[5 + Tls13Records::kSealOverhead];
                if (server.seal_key_update(update) != sizeof update) std::abort();
            }
            pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(result.consumed));
        }
    }
    return 0;
}
