// The small behaviours of the plain config types: place descriptions and enum names.
#include "config/config.hpp"

namespace tlsfront {

std::string SourcePlace::describe() const { return file + ":" + std::to_string(line) + ":" + std::to_string(column); }

const char* to_string(MailProtocol p) {
    switch (p) {
        case MailProtocol::imap: return "imap";
        case MailProtocol::pop3: return "pop3";
        case MailProtocol::smtp: return "smtp";
    }
    return "unknown";
}

const char* to_string(ProxyProtocolVersion v) {
    switch (v) {
        case ProxyProtocolVersion::off: return "off";
        case ProxyProtocolVersion::v1: return "v1";
        case ProxyProtocolVersion::v2: return "v2";
    }
    return "unknown";
}

const char* to_string(TlsVersion v) {
    switch (v) {
        case TlsVersion::tls1_2: return "1.2";
        case TlsVersion::tls1_3: return "1.3";
    }
    return "unknown";
}

}  // namespace tlsfront
