// Config loading: the STARTTLS keys (starttls, greeting_name) and the per-protocol PROXY TLV defaults.
#include "config/config_checks.hpp"
#include "config_fixture.hpp"

namespace {

// A listener of `protocol` named `name` on `port`, with extra keys.
std::string mail_listener(std::string_view name, std::string_view protocol, int port, std::string_view extra = "") {
    std::string table = listener(name, "\"127.0.0.1:" + std::to_string(port) + "\"", extra);
    size_t at = table.find("protocol = \"imap\"");
    table.replace(at, 17, "protocol = \"" + std::string(protocol) + "\"");
    return table;
}

}  // namespace

TEST_CASE_FIXTURE(ConfigFixture, "starttls and greeting_name: defaults and each protocol") {
    Config config = load(tls_cert + mail_listener("imaps", "imap", 993) +
                         mail_listener("imap", "imap", 143, "starttls = \"required\"\n") +
                         mail_listener("pop3", "pop3", 110, "starttls = \"required\"\ngreeting_name = \"Pop.Example.NET\"\n") +
                         mail_listener("submission", "smtp", 587, "starttls = \"required\"\n") +
                         mail_listener("mx", "smtp", 25, "starttls = \"optional\"\ngreeting_name = \"mx.example.net\"\n") +
                         mail_listener("smtps", "smtp", 465, "starttls = \"off\"\n"));
    REQUIRE(config.listeners.size() == 6);
    CHECK(config.listeners[0].starttls == StartTlsMode::off);
    CHECK(config.listeners[0].greeting_name == config_checks::system_host_name());
    CHECK(config.listeners[1].starttls == StartTlsMode::required);
    CHECK(config.listeners[2].starttls == StartTlsMode::required);
    CHECK(config.listeners[2].greeting_name == "Pop.Example.NET");
    CHECK(config.listeners[3].starttls == StartTlsMode::required);
    CHECK(config.listeners[4].starttls == StartTlsMode::optional);
    CHECK(config.listeners[4].greeting_name == "mx.example.net");
    CHECK(config.listeners[5].starttls == StartTlsMode::off);
    CHECK(std::string(to_string(StartTlsMode::optional)) == "optional");
}

TEST_CASE_FIXTURE(ConfigFixture, "starttls and greeting_name: refused values") {
    check_rejected({
        {tls_cert + mail_listener("imap", "imap", 143, "starttls = \"optional\"\n"), "\"optional\"",
         "starttls = \"optional\" is only for protocol \"smtp\" (port 25, where MTA-to-MTA delivery must work "
         "without TLS); use \"required\" with protocol \"imap\""},
        {tls_cert + mail_listener("pop3", "pop3", 110, "starttls = \"optional\"\n"), "\"optional\"",
         "starttls = \"optional\" is only for protocol \"smtp\" (port 25, where MTA-to-MTA delivery must work "
         "without TLS); use \"required\" with protocol \"pop3\""},
        {tls_cert + mail_listener("mx", "smtp", 25, "starttls = \"yes\"\n"), "\"yes\"",
         "'starttls' must be one of \"off\", \"required\", \"optional\" (got \"yes\")"},
        {tls_cert + mail_listener("mx", "smtp", 25, "starttls = true\n"), "true",
         "'starttls' must be a string (one of \"off\", \"required\", \"optional\")"},
        {tls_cert + mail_listener("mx", "smtp", 25, "greeting_name = \"mx example\"\n"), "\"mx example\"",
         "'greeting_name' 'mx example' is not a host name"},
        {tls_cert + mail_listener("mx", "smtp", 25, "greeting_name = \"mx\\r\\n250 AUTH PLAIN\"\n"), "\"mx\\r",
         "'greeting_name' 'mx\r\n250 AUTH PLAIN' is not a host name"},
        {tls_cert + mail_listener("mx", "smtp", 25, "greeting_name = 25\n"), "25\n", "'greeting_name' must be a string"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "PROXY TLVs default per protocol") {
    Config config = load(tls_cert + mail_listener("imaps", "imap", 993, "proxy_protocol = \"v2\"\n") +
                         mail_listener("pop3s", "pop3", 995, "proxy_protocol = \"v2\"\n") +
                         mail_listener("smtps", "smtp", 465, "proxy_protocol = \"v2\"\n") +
                         mail_listener("imap", "imap", 143, "proxy_protocol_tlvs = \"minimal\"\n"));
    constexpr uint16_t dovecot_reads = tlv_ssl | tlv_ssl_version | tlv_authority | tlv_alpn | tlv_unique_id;
    CHECK(config.listeners[0].proxy_tlvs == dovecot_reads);
    CHECK(config.listeners[0].proxy_header_limit == 1500);
    CHECK(config.listeners[1].proxy_tlvs == dovecot_reads);
    CHECK(config.listeners[1].proxy_header_limit == 1500);
    CHECK(config.listeners[2].proxy_tlvs == (tlv_ssl | tlv_ssl_version | tlv_unique_id));
    CHECK(config.listeners[2].proxy_header_limit == kDefaultProxyHeaderLimit);
    CHECK(config.listeners[3].proxy_tlvs == (tlv_ssl | tlv_ssl_version | tlv_unique_id));  // a profile still wins
    CHECK(config.listeners[3].proxy_header_limit == kDefaultProxyHeaderLimit);
}
