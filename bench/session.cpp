// Scenario -> session and buffer sizes.
#include "bench/session.hpp"

namespace tlsfront::bench {

BufferSizes buffer_sizes_for(Scenario scenario) {
    switch (scenario) {
    case Scenario::download:
    case Scenario::upload: return {64 * 1024, 64 * 1024};
    default: return {16 * 1024, 4 * 1024};  // a server flight can be several KiB; a ClientHello is < 1 KiB
    }
}

std::unique_ptr<Session> make_session(const LoadOptions& options) {
    switch (options.scenario) {
    case Scenario::handshake:
    case Scenario::resume: return make_handshake_session();
    case Scenario::idle: return make_idle_session();
    case Scenario::pingpong: return make_pingpong_session(options.rate > 0);
    case Scenario::download: return make_download_session(options.bytes);
    case Scenario::upload: return make_upload_session(options.bytes);
    case Scenario::imap: return make_imap_session(options);
    }
    return nullptr;
}

}  // namespace tlsfront::bench
