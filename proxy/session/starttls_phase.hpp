// StartTlsPhase: what a STARTTLS listener's connection holds only until its relay starts (then it
// is freed, so an idle session pays nothing for it): tlsfront's own pre-TLS dialogue with the
// client, and the backend's greeting that tlsfront swallows on the client's behalf.
#pragma once

#include <string>

#include "config/config.hpp"
#include "proxy/protocol/pre_tls_dialogue.hpp"

namespace tlsfront {

struct StartTlsPhase {
    explicit StartTlsPhase(const ListenerConfig& listener)
        : dialogue(listener.protocol, listener.starttls, listener.greeting_name) {}

    PreTlsDialogue dialogue;
    std::string backend_reply;  // the backend's greeting (then its reply to the replayed HELO) so far
    std::string forward;        // SMTP plaintext: the client's bytes for the backend after that reply
    bool awaiting_helo_reply = false;
};

}  // namespace tlsfront
