// Config loading, valid configs: a full config, the defaults, and [listener.tls] over [tls].
#include "config_fixture.hpp"

// ---- Valid configs -----------------------------------------------------------------------------

TEST_CASE_FIXTURE(ConfigFixture, "a minimal config gets the documented defaults") {
    Config config = load(minimal);
    CHECK(config.path == "test.toml");
    CHECK(config.server.workers == 0);
    CHECK(config.server.max_connections == 100000);
    CHECK(config.server.handshake_timeout == 10s);
    CHECK(config.server.connect_timeout == 5s);
    CHECK(config.server.idle_timeout == 35min);
    CHECK(config.server.shutdown_grace == 30s);
    CHECK(config.server.log_level == LogLevel::info);
    CHECK(config.server.log_format == LogFormat::text);

    const TlsSettings& tls = config.tls;
    CHECK(tls.certificate.cert.path == files.path("cert.pem"));
    CHECK(tls.certificate.cert.place.describe() == place(minimal, "\"@DIR@/cert.pem\""));
    CHECK(tls.certificate.key.path == files.path("cert.pem"));  // key = cert when no key is named
    CHECK(tls.certificate.key.place.describe() == tls.certificate.cert.place.describe());
    CHECK(tls.certificate.key_password_file.empty());
    CHECK(tls.certificate.alt_cert.empty());
    CHECK(tls.certificate.alt_key.empty());
    CHECK(tls.min_version == TlsVersion::tls1_2);
    CHECK(tls.ciphers.empty());
    CHECK(tls.groups == std::vector<std::string>{"X25519", "P-256"});
    CHECK(tls.session_tickets);

    REQUIRE(config.listeners.size() == 1);
    const ListenerConfig& imaps = config.listeners[0];
    CHECK(imaps.name == "imaps");
    REQUIRE(imaps.listen.size() == 1);
    CHECK(imaps.listen[0].to_string() == "127.0.0.1:993");
    CHECK(imaps.protocol == MailProtocol::imap);
    CHECK(imaps.backend.to_string() == "127.0.0.1:143");
    CHECK(imaps.proxy_protocol == ProxyProtocolVersion::off);
    CHECK(imaps.tls.certificate.cert.path == files.path("cert.pem"));
    CHECK(imaps.place.describe() == place(minimal, "[[listener]]"));
    CHECK(config.local_names.empty());
    CHECK(config.locals.empty());
}

const std::string full_config = R"([server]
workers = 4
max_connections = 5000
handshake_timeout = "500ms"
connect_timeout = "2s"
idle_timeout = "1h30m"
shutdown_grace = "0s"
log_level = "debug"
log_format = "json"
user = ""
group = ""
admin = ""

[tls]
cert = "@DIR@/cert.pem"
key = "@DIR@/key.pem"
key_password_file = "@DIR@/pass.txt"
alt_cert = "@DIR@/alt.pem"
min_version = "1.2"
ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"
groups = ["x25519", "P-384"]
client_ca = ""
client_crl = ""
verify_client = "off"
session_tickets = false
ticket_key_file = ""
ocsp_response = ""
strict_sni = false

[[local_name]]
names = ["IMAP.Example.ORG", "*.Example.net"]
cert = "@DIR@/imap.pem"

[[local_name]]
names = ["pop3.example.org"]
cert = "@DIR@/local.pem"
key = "@DIR@/key.pem"

[[local]]
address = "192.0.2.10"
cert = "@DIR@/local.pem"

[[local]]
address = "[2001:db8::1]:993"
cert = "@DIR@/local.pem"
alt_cert = "@DIR@/alt.pem"
alt_key = "@DIR@/alt.key"

[[listener]]
name = "imaps"
listen = ["0.0.0.0:993", "[::]:993"]
protocol = "imap"
backend = "unix:/run/dovecot/imap"
proxy_protocol = "off"
accept_proxy_from = []
[listener.tls]
cert = "@DIR@/imap.pem"
min_version = "1.3"

[[listener]]
name = "pop3s"
listen = "[::1]:995"
protocol = "pop3"
backend = "127.0.0.1:110"

[[listener]]
name = "smtp.submission-1"
listen = "127.0.0.1:465"
protocol = "smtp"
backend = "[::1]:25"
tls = { key_password_file = "", groups = ["P-521"] }
)";

TEST_CASE_FIXTURE(ConfigFixture, "a full config: every key, read and merged") {
    Config config = load(full_config);
    CHECK(config.server.workers == 4);
    CHECK(config.server.max_connections == 5000);
    CHECK(config.server.handshake_timeout == 500ms);
    CHECK(config.server.connect_timeout == 2s);
    CHECK(config.server.idle_timeout == 90min);
    CHECK(config.server.shutdown_grace == 0s);
    CHECK(config.server.log_level == LogLevel::debug);
    CHECK(config.server.log_format == LogFormat::json);

    const CertificateSource& global = config.tls.certificate;
    CHECK(global.cert.path == files.path("cert.pem"));
    CHECK(global.key.path == files.path("key.pem"));
    CHECK(global.key.place.describe() == place(full_config, "\"@DIR@/key.pem\""));
    CHECK(global.key_password_file.path == files.path("pass.txt"));
    CHECK(global.alt_cert.path == files.path("alt.pem"));
    CHECK(global.alt_key.path == files.path("alt.pem"));  // alt_key = alt_cert when no alt_key is named
    CHECK(config.tls.ciphers == "ECDHE-ECDSA-AES128-GCM-SHA256");
    CHECK(config.tls.ciphers_place.describe() == place(full_config, "\"ECDHE"));
    CHECK(config.tls.groups == std::vector<std::string>{"X25519", "P-384"});
    CHECK(config.tls.groups_place.describe() == place(full_config, "[\"x25519\""));
    CHECK_FALSE(config.tls.session_tickets);

    REQUIRE(config.local_names.size() == 2);
    CHECK(config.local_names[0].names == std::vector<std::string>{"imap.example.org", "*.example.net"});
    CHECK(config.local_names[0].certificate.key.path == files.path("imap.pem"));
    CHECK(config.local_names[0].place.describe() == place(full_config, "[[local_name]]"));
    CHECK(config.local_names[1].certificate.key.path == files.path("key.pem"));
    CHECK(config.local_names[1].place.describe() == place(full_config, "[[local_name]]", 1));

    REQUIRE(config.locals.size() == 2);
    CHECK(config.locals[0].address.to_string() == "192.0.2.10");
    CHECK(config.locals[0].address.port() == 0);
    CHECK(config.locals[1].address.family() == AF_INET6);
    CHECK(config.locals[1].address.port() == 993);
    CHECK(config.locals[1].certificate.alt_key.path == files.path("alt.key"));
    CHECK(config.locals[1].place.describe() == place(full_config, "[[local]]", 1));

    REQUIRE(config.listeners.size() == 3);
    const ListenerConfig& imaps = config.listeners[0];
    REQUIRE(imaps.listen.size() == 2);
    CHECK(imaps.listen[0].to_string() == "0.0.0.0:993");
    CHECK(imaps.listen[1].to_string() == "[::]:993");
    CHECK(imaps.backend.is_unix());
    CHECK(imaps.backend.to_string() == "unix:/run/dovecot/imap");
    CHECK(imaps.place.describe() == place(full_config, "[[listener]]"));
    // [listener.tls] overrides what it names; its cert holds its key, and the global password
    // file belongs to the global key.
    CHECK(imaps.tls.min_version == TlsVersion::tls1_3);
    CHECK(imaps.tls.certificate.cert.path == files.path("imap.pem"));
    CHECK(imaps.tls.certificate.key.path == files.path("imap.pem"));
    CHECK(imaps.tls.certificate.key_password_file.empty());
    CHECK(imaps.tls.certificate.alt_cert.path == files.path("alt.pem"));
    CHECK(imaps.tls.groups == config.tls.groups);
    CHECK(imaps.tls.ciphers == config.tls.ciphers);
    CHECK_FALSE(imaps.tls.session_tickets);

    const ListenerConfig& pop3s = config.listeners[1];
    CHECK(pop3s.protocol == MailProtocol::pop3);
    CHECK(pop3s.listen[0].to_string() == "[::1]:995");
    CHECK(pop3s.tls.certificate.key.path == files.path("key.pem"));
    CHECK(pop3s.tls.certificate.key_password_file.path == files.path("pass.txt"));
    CHECK(pop3s.tls.min_version == TlsVersion::tls1_2);

    const ListenerConfig& smtps = config.listeners[2];
    CHECK(smtps.name == "smtp.submission-1");
    CHECK(smtps.protocol == MailProtocol::smtp);
    CHECK(smtps.backend.to_string() == "[::1]:25");
    CHECK(smtps.tls.certificate.key.path == files.path("key.pem"));
    CHECK(smtps.tls.certificate.key_password_file.empty());
    CHECK(smtps.tls.groups == std::vector<std::string>{"P-521"});
    CHECK(smtps.tls.groups_place.describe() == place(full_config, "[\"P-521\"]"));
}

TEST_CASE_FIXTURE(ConfigFixture, "a password file or alternate certificate alone keeps the inherited key") {
    std::string text =
        "[tls]\ncert = \"@DIR@/cert.pem\"\nkey = \"@DIR@/key.pem\"\nkey_password_file = \"@DIR@/pass.txt\"\n" +
        listener("a", "\"127.0.0.1:1\"", "tls.key_password_file = \"@DIR@/alt.key\"\n") +
        listener("b", "\"127.0.0.1:2\"", "tls.alt_cert = \"@DIR@/alt.pem\"\n");
    Config config = load(text);
    const CertificateSource& a = config.listeners[0].tls.certificate;
    CHECK(a.key.path == files.path("key.pem"));
    CHECK(a.key_password_file.path == files.path("alt.key"));
    const CertificateSource& b = config.listeners[1].tls.certificate;
    CHECK(b.key.path == files.path("key.pem"));
    CHECK(b.key_password_file.path == files.path("pass.txt"));
    CHECK(b.alt_key.path == files.path("alt.pem"));
}

TEST_CASE_FIXTURE(ConfigFixture, "a listener may bring its own certificate without [tls]") {
    Config config = load(listener("imaps", "\"127.0.0.1:993\"", "[listener.tls]\ncert = \"@DIR@/imap.pem\"\n"));
    CHECK(config.tls.certificate.cert.empty());
    CHECK(config.listeners[0].tls.certificate.key.path == files.path("imap.pem"));
}

TEST_CASE_FIXTURE(ConfigFixture, "load_config_file reads the file and names it in errors") {
    files.write("good.toml", files.expand(minimal));
    Config config = load_config_file(files.path("good.toml"));
    CHECK(config.path == files.path("good.toml"));
    CHECK(config.listeners.size() == 1);

    files.write("bad.toml", "\n[server]\nworkers = \"many\"\n");
    CHECK_THROWS_WITH_AS(load_config_file(files.path("bad.toml")),
                         (files.path("bad.toml") + ":3:11: 'workers' must be an integer").c_str(), ConfigError);
    CHECK_THROWS_WITH_AS(load_config_file(files.path("missing.toml")),
                         (files.path("missing.toml") + ": cannot read config: No such file or directory").c_str(),
                         ConfigError);
}

TEST_CASE("enum names") {
    CHECK(std::string(to_string(MailProtocol::pop3)) == "pop3");
    CHECK(std::string(to_string(ProxyProtocolVersion::v2)) == "v2");
    CHECK(std::string(to_string(TlsVersion::tls1_3)) == "1.3");
    CHECK(SourcePlace{"a.toml", 3, 7}.describe() == "a.toml:3:7");
}
