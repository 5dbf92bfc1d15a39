// Config loading: a full valid config, the defaults, [listener.tls] over [tls], and every rule
// that rejects a config, each error checked with its FILE:LINE:COLUMN.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config_loader.hpp"

using namespace tlsfront;
using namespace std::chrono_literals;

namespace {

const std::string source_name = "test.toml";

// A temporary directory with small readable files for the path keys, removed with the object.
class TempFiles {
public:
    TempFiles() {
        std::string pattern = (std::filesystem::temp_directory_path() / "tlsfront-config-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        dir_ = pattern;
        for (const char* name : {"cert.pem", "key.pem", "pass.txt", "alt.pem", "alt.key", "imap.pem", "local.pem"})
            write(name, "not PEM: the loader only checks that the file can be read\n");
    }
    ~TempFiles() {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    TempFiles(const TempFiles&) = delete;
    TempFiles& operator=(const TempFiles&) = delete;

    std::string path(std::string_view name) const { return dir_ + "/" + std::string(name); }
    void write(std::string_view name, std::string_view content) const { std::ofstream(path(name)) << content; }

    // `text` with each "@DIR@" replaced by the directory.
    std::string expand(std::string_view text) const {
        std::string expanded(text);
        for (size_t at = expanded.find("@DIR@"); at != std::string::npos; at = expanded.find("@DIR@", at + dir_.size()))
            expanded.replace(at, 5, dir_);
        return expanded;
    }

private:
    std::string dir_;
};

// "test.toml:LINE:COLUMN" where the `occurrence`-th (from 0) `needle` starts in `text`.
std::string place_of(const std::string& text, std::string_view needle, int occurrence = 0) {
    size_t at = text.find(needle);
    for (int i = 0; i < occurrence && at != std::string::npos; ++i) at = text.find(needle, at + 1);
    REQUIRE_MESSAGE(at != std::string::npos, "not in the text: ", needle);
    size_t line_start = text.rfind('\n', at);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
    return source_name + ":" + std::to_string(line) + ":" + std::to_string(at - line_start + 1);
}

std::string load_error(const std::string& text) {
    try {
        load_config_string(text, source_name);
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "(loaded without error)";
}

const std::string tls_cert = "[tls]\ncert = \"@DIR@/cert.pem\"\n";

std::string listener(std::string_view name = "imaps", std::string_view listen = "\"127.0.0.1:993\"",
                     std::string_view extra_keys = "") {
    return "[[listener]]\nname = \"" + std::string(name) + "\"\nlisten = " + std::string(listen) +
           "\nprotocol = \"imap\"\nbackend = \"127.0.0.1:143\"\n" + std::string(extra_keys);
}

const std::string minimal = tls_cert + listener();

// [tls] and the default listener with `key = value` in place of its line, or without it when
// `value` is empty.
std::string listener_with(std::string_view key, std::string_view value) {
    std::string table = listener();
    size_t start = table.find("\n" + std::string(key) + " = ") + 1;
    size_t end = table.find('\n', start) + 1;
    table.replace(start, end - start, value.empty() ? "" : std::string(key) + " = " + std::string(value) + "\n");
    return tls_cert + table;
}

// A config that must be refused: the error points at the `occurrence`-th `needle` and says `cause`.
struct Rejected {
    std::string toml;
    std::string needle;
    std::string cause;
    int occurrence = 0;
};

struct ConfigFixture {
    TempFiles files;

    Config load(std::string_view toml) const { return load_config_string(files.expand(toml), source_name); }
    std::string place(std::string_view toml, std::string_view needle, int occurrence = 0) const {
        return place_of(files.expand(toml), files.expand(needle), occurrence);
    }

    void check_rejected(const std::vector<Rejected>& cases) const {
        for (const Rejected& rejected : cases) {
            std::string text = files.expand(rejected.toml);
            CAPTURE(text);
            CHECK(load_error(text) == place_of(text, files.expand(rejected.needle), rejected.occurrence) + ": " +
                                          files.expand(rejected.cause));
        }
    }
};

}  // namespace

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

// ---- Rejected configs ------------------------------------------------------------------------

TEST_CASE_FIXTURE(ConfigFixture, "TOML syntax errors") {
    check_rejected({
        {"[server]\nworkers = = 4\n", "= 4",
         "TOML syntax error: Error while parsing value: could not determine value type"},
        {minimal + "[tls]\n", "[tls]",
         "TOML syntax error: Error while parsing table header: cannot redefine existing table 'tls'", 1},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "unknown keys, named with their table, first in file order") {
    check_rejected({
        {"bogus = 1\n" + minimal, "bogus", "unknown key 'bogus' in the top-level table"},
        {"[servers]\nworkers = 1\n" + minimal, "servers", "unknown key 'servers' in the top-level table"},
        {"[server]\nworkerz = 4\n" + minimal, "workerz", "unknown key 'workerz' in [server]"},
        {"[server]\nzzz = 1\naaa = 2\n" + minimal, "zzz", "unknown key 'zzz' in [server]"},
        {tls_cert + "certificate = \"x\"\n" + listener(), "certificate", "unknown key 'certificate' in [tls]"},
        {minimal + "[[local_name]]\nname = [\"a.example\"]\n", "name = [", "unknown key 'name' in [[local_name]]"},
        {minimal + "[[local]]\naddr = \"192.0.2.1\"\n", "addr", "unknown key 'addr' in [[local]]"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "backends = \"x\"\n"), "backends",
         "unknown key 'backends' in [[listener]]"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "[listener.tls]\nmin_versions = \"1.3\"\n"), "min_versions",
         "unknown key 'min_versions' in [listener.tls]"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "wrong TOML types") {
    check_rejected({
        {"[server]\nworkers = \"4\"\n" + minimal, "\"4\"", "'workers' must be an integer"},
        {"[server]\nmax_connections = 1.5\n" + minimal, "1.5", "'max_connections' must be an integer"},
        {"[server]\nidle_timeout = 60\n" + minimal, "60", "'idle_timeout' must be a duration string such as \"10s\""},
        {"[server]\nuser = false\n" + minimal, "false", "'user' must be a string"},
        {"server = 1\n" + minimal, "1", "'server' must be a table ([server])"},
        {tls_cert + "session_tickets = \"yes\"\n" + listener(), "\"yes\"", "'session_tickets' must be true or false"},
        {tls_cert + "groups = \"X25519\"\n" + listener(), "\"X25519\"", "'groups' must be an array of strings"},
        {tls_cert + "groups = [\"X25519\", 1]\n" + listener(), "1]", "'groups' must be an array of strings"},
        {tls_cert + "min_version = 1.3\n" + listener(), "1.3",
         "'min_version' must be a string (one of \"1.2\", \"1.3\")"},
        {"[tls]\ncert = 7\n" + listener(), "7", "'cert' must be a string"},
        {tls_cert + "[listener]\nname = \"imaps\"\n", "[listener]",
         "'listener' must be an array of tables ([[listener]])"},
        {tls_cert + listener("imaps", "993"), "993\n", "'listen' must be a string or an array of strings"},
        {tls_cert + listener("imaps", "[\"127.0.0.1:993\", 994]"), "994",
         "'listen' must be a string or an array of strings"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "tls = \"x\"\n"), "\"x\"",
         "'tls' must be a table ([listener.tls])"},
        {minimal + "[[local_name]]\nnames = \"a.example\"\ncert = \"@DIR@/cert.pem\"\n", "\"a.example\"",
         "'names' must be an array of strings"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "[server] values out of range") {
    check_rejected({
        {"[server]\nworkers = 1025\n" + minimal, "1025", "'workers' must be between 0 and 1024"},
        {"[server]\nworkers = -1\n" + minimal, "-1", "'workers' must be between 0 and 1024"},
        {"[server]\nmax_connections = 0\n" + minimal, "0\n", "'max_connections' must be between 1 and 10000000"},
        {"[server]\nhandshake_timeout = \"10x\"\n" + minimal, "\"10x\"",
         "bad duration '10x' for 'handshake_timeout' (use e.g. 500ms, 10s, 35m, 1h)"},
        {"[server]\nconnect_timeout = \"5\"\n" + minimal, "\"5\"",
         "bad duration '5' for 'connect_timeout' (use e.g. 500ms, 10s, 35m, 1h)"},
        {"[server]\nidle_timeout = \"0s\"\n" + minimal, "\"0s\"", "'idle_timeout' must be greater than 0"},
        {"[server]\nlog_level = \"verbose\"\n" + minimal, "\"verbose\"",
         "'log_level' must be one of \"error\", \"warn\", \"info\", \"debug\" (got \"verbose\")"},
        {"[server]\nlog_format = \"xml\"\n" + minimal, "\"xml\"",
         "'log_format' must be one of \"text\", \"json\" (got \"xml\")"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "user and group must exist") {
    auto config = load("[server]\nuser = \"nobody\"\ngroup = \"nogroup\"\n" + minimal);
    CHECK(config.server.user == "nobody");
    CHECK(config.server.group == "nogroup");
    check_rejected({
        {"[server]\nuser = \"no-such-user-x\"\n" + minimal, "\"no-such", "unknown user 'no-such-user-x'"},
        {"[server]\ngroup = \"no-such-group-x\"\n" + minimal, "\"no-such", "unknown group 'no-such-group-x'"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "keys accepted only at their default until they are implemented") {
    check_rejected({
        {"[server]\nadmin = \"127.0.0.1:9993\"\n" + minimal, "\"127", "'admin' is not supported yet"},
        {tls_cert + "ticket_key_file = \"x\"\n" + listener(), "\"x\"", "'ticket_key_file' is not supported yet"},
        {tls_cert + "ocsp_response = \"x\"\n" + listener(), "\"x\"", "'ocsp_response' is not supported yet"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "client certificates and strict SNI") {
    auto config = load(tls_cert + "client_ca = \"@DIR@/alt.pem\"\nclient_crl = \"@DIR@/alt.key\"\n"
                       "verify_client = \"optional\"\nstrict_sni = true\n" +
                       listener("imaps", "\"127.0.0.1:993\"", "[listener.tls]\nverify_client = \"required\"\n"));
    CHECK(config.tls.verify_client == VerifyClient::optional);
    CHECK(config.tls.strict_sni);
    CHECK(config.tls.client_ca.path == files.path("alt.pem"));
    CHECK(config.listeners[0].tls.verify_client == VerifyClient::required);
    CHECK(config.listeners[0].tls.client_crl.path == files.path("alt.key"));
    check_rejected({
        {tls_cert + "verify_client = \"required\"\n" + listener(), "\"required\"",
         "'verify_client' = \"required\" needs 'client_ca' (the CA bundle client certificates must chain to)"},
        {tls_cert + "verify_client = \"sometimes\"\n" + listener(), "\"sometimes\"",
         "'verify_client' must be one of \"off\", \"optional\", \"required\" (got \"sometimes\")"},
        {tls_cert + "client_crl = \"@DIR@/alt.pem\"\n" + listener(), "\"@DIR@/alt.pem\"",
         "'client_crl' is set but 'client_ca' is not"},
        {tls_cert + "client_ca = \"@DIR@/missing.pem\"\n" + listener(), "\"@DIR@/missing.pem\"",
         "cannot read client CA file '@DIR@/missing.pem': No such file or directory"},
        {tls_cert + "strict_sni = \"yes\"\n" + listener(), "\"yes\"", "'strict_sni' must be true or false"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "PROXY protocol toward the backend and from balancers") {
    auto config = load(tls_cert + listener("imaps", "\"127.0.0.1:993\"",
                                           "proxy_protocol = \"v2\"\nproxy_protocol_tlvs = \"dovecot\"\n"
                                           "accept_proxy_from = [\"10.0.0.0/8\", \"2001:db8::/32\", \"127.0.0.1\"]\n") +
                       listener("pop3s", "\"127.0.0.1:995\"",
                                "proxy_protocol = \"v1\"\nproxy_protocol_tlvs = [\"ssl\", \"ssl_cn\"]\n"
                                "proxy_header_limit = 300\n") +
                       listener("smtps", "\"127.0.0.1:465\""));
    const auto& imaps = config.listeners[0];
    CHECK(imaps.proxy_protocol == ProxyProtocolVersion::v2);
    CHECK(imaps.proxy_header_limit == 1500);
    CHECK((imaps.proxy_tlvs & tlv_authority) != 0);
    REQUIRE(imaps.accept_proxy_from.size() == 3);
    CHECK(imaps.accept_proxy_from[0].to_string() == "10.0.0.0/8");
    CHECK(imaps.accept_proxy_from[2].prefix_length == 32);
    const auto& pop3s = config.listeners[1];
    CHECK(pop3s.proxy_protocol == ProxyProtocolVersion::v1);
    CHECK(pop3s.proxy_tlvs == (tlv_ssl | tlv_ssl_cn));
    CHECK(pop3s.proxy_header_limit == 300);
    const auto& smtps = config.listeners[2];
    CHECK(smtps.proxy_protocol == ProxyProtocolVersion::off);
    CHECK(smtps.proxy_tlvs == (tlv_ssl | tlv_ssl_version | tlv_unique_id));
    CHECK(smtps.proxy_header_limit == kDefaultProxyHeaderLimit);
    check_rejected({
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "proxy_protocol = \"on\"\n"), "\"on\"",
         "'proxy_protocol' must be one of \"off\", \"v1\", \"v2\" (got \"on\")"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "proxy_protocol_tlvs = \"exim\"\n"), "\"exim\"",
         "unknown 'proxy_protocol_tlvs' profile 'exim' (use minimal, dovecot, postfix, none, or a list of TLV names)"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "proxy_protocol_tlvs = [\"ssl\", \"crc\"]\n"), "\"crc\"",
         "unknown TLV 'crc' (use alpn, authority, unique_id, ssl, ssl_version, ssl_cn, ssl_cipher, ssl_sig_alg, "
         "ssl_key_alg)"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "proxy_header_limit = 8\n"), "8\n",
         "'proxy_header_limit' must be between 16 and 65535"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "accept_proxy_from = [\"10.0.0.0/33\"]\n"),
         "\"10.0.0.0/33\"", "bad 'accept_proxy_from': prefix length over 32 in '10.0.0.0/33'"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "accept_proxy_from = [\"balancer\"]\n"),
         "\"balancer\"",
         "bad 'accept_proxy_from': 'balancer' is not an address range such as 10.0.0.0/8 or 2001:db8::/32"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "TLS settings values") {
    check_rejected({
        {tls_cert + "min_version = \"1.1\"\n" + listener(), "\"1.1\"",
         "'min_version' must be one of \"1.2\", \"1.3\" (got \"1.1\")"},
        {tls_cert + "groups = [\"X25519\", \"P-192\"]\n" + listener(), "\"P-192\"",
         "unknown group 'P-192' in 'groups' (use X25519, P-256, P-384, P-521)"},
        {tls_cert + "groups = [\"X25519\", \"x25519\"]\n" + listener(), "\"x25519\"",
         "duplicate group 'x25519' in 'groups'"},
        {tls_cert + "groups = []\n" + listener(), "[]", "'groups' must not be empty"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "addresses") {
    std::string long_path(120, 'a');
    check_rejected({
        {tls_cert + listener("imaps", "\"foo:993\""), "\"foo",
         "bad 'listen': 'foo:993' is not a numeric IPv4/IPv6 address"},
        {tls_cert + listener("imaps", "[\"127.0.0.1:993\", \"127.0.0.1:70000\"]"), "\"127.0.0.1:70000\"",
         "bad 'listen': port out of range in '127.0.0.1:70000'"},
        {tls_cert + listener("imaps", "\"127.0.0.1\""), "\"127.0.0.1\"", "bad 'listen': missing port in '127.0.0.1'"},
        {tls_cert + listener("imaps", "\"unix:/run/x\""), "\"unix",
         "bad 'listen': a unix socket is not allowed here: 'unix:/run/x'"},
        {tls_cert + listener("imaps", "[]"), "[]", "'listen' must not be empty"},
        {listener_with("backend", "\"localhost:143\""), "\"localhost",
         "bad 'backend': 'localhost:143' is not a numeric IPv4/IPv6 address"},
        {listener_with("backend", "\"[::1]\""), "\"[::1]\"", "bad 'backend': missing port in '[::1]'"},
        {listener_with("backend", "\"unix:/" + long_path + "\""), "\"unix", "bad 'backend': unix socket path too long"},
        {minimal + "[[local]]\naddress = \"unix:/x\"\ncert = \"@DIR@/cert.pem\"\n", "\"unix",
         "bad 'address': a unix socket is not allowed here: 'unix:/x'"},
        {minimal + "[[local]]\naddress = \"192.0.2.1:0\"\ncert = \"@DIR@/cert.pem\"\n", "\"192",
         "bad 'address': port out of range in '192.0.2.1:0'"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "names") {
    check_rejected({
        {tls_cert + listener("imap s"), "\"imap s\"",
         "listener name 'imap s' may only contain letters, digits, '_', '.' and '-'"},
        {tls_cert + listener(""), "\"\"", "'name' must not be empty"},
        {minimal + "[[local_name]]\nnames = [\"a.*.example.org\"]\ncert = \"@DIR@/cert.pem\"\n", "\"a.*",
         "bad name 'a.*.example.org' in 'names': '*' is only allowed as the whole first label, as in '*.example.org'"},
        {minimal + "[[local_name]]\nnames = [\"*.*.example.org\"]\ncert = \"@DIR@/cert.pem\"\n", "\"*.*",
         "bad name '*.*.example.org' in 'names': '*' is only allowed as the whole first label, as in '*.example.org'"},
        {minimal + "[[local_name]]\nnames = [\"mail_1.example.org\"]\ncert = \"@DIR@/cert.pem\"\n", "\"mail_1",
         "bad name 'mail_1.example.org' in 'names': not a valid host name"},
        {minimal + "[[local_name]]\nnames = [\"example.org.\"]\ncert = \"@DIR@/cert.pem\"\n", "\"example.org.",
         "bad name 'example.org.' in 'names': not a valid host name"},
        {minimal + "[[local_name]]\nnames = []\ncert = \"@DIR@/cert.pem\"\n", "[]", "'names' must not be empty"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "duplicates name the first place") {
    std::string names = tls_cert + listener("imaps", "\"127.0.0.1:993\"") + listener("imaps", "\"127.0.0.1:994\"");
    std::string listens = tls_cert + listener("imaps", "\"127.0.0.1:993\"") +
                          listener("other", "[\"[::1]:993\", \"[::ffff:127.0.0.1]:993\"]");
    std::string one_listener = tls_cert + listener("imaps", "[\"127.0.0.1:993\", \"127.0.0.1:993\"]");
    std::string local_names =
        minimal + "[[local_name]]\nnames = [\"imap.example.org\"]\ncert = \"@DIR@/cert.pem\"\n" +
        "[[local_name]]\nnames = [\"pop3.example.org\", \"IMAP.example.org\"]\ncert = \"@DIR@/cert.pem\"\n";
    std::string same_block =
        minimal + "[[local_name]]\nnames = [\"a.example\", \"a.example\"]\ncert = \"@DIR@/cert.pem\"\n";
    std::string locals = minimal + "[[local]]\naddress = \"192.0.2.1\"\ncert = \"@DIR@/cert.pem\"\n" +
                         "[[local]]\naddress = \"[::ffff:192.0.2.1]\"\ncert = \"@DIR@/cert.pem\"\n";
    check_rejected({
        {names, "\"imaps\"", "duplicate listener name 'imaps' (first defined at " + place(names, "[[listener]]") + ")",
         1},
        {listens, "\"[::ffff",
         "duplicate listen address '[::ffff:127.0.0.1]:993' (first used by listener 'imaps' at " +
             place(listens, "\"127.0.0.1:993\"") + ")"},
        {one_listener, "\"127.0.0.1:993\"",
         "duplicate listen address '127.0.0.1:993' (first used by listener 'imaps' at " +
             place(one_listener, "\"127.0.0.1:993\"") + ")",
         1},
        {local_names, "\"IMAP",
         "duplicate local_name 'imap.example.org' (first defined at " + place(local_names, "\"imap.example") + ")"},
        {same_block, "\"a.example\"",
         "duplicate local_name 'a.example' (first defined at " + place(same_block, "\"a.example\"") + ")", 1},
        {locals, "\"[::ffff",
         "duplicate [[local]] address '[::ffff:192.0.2.1]' (first defined at " + place(locals, "[[local]]") + ")"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "missing tables and keys") {
    check_rejected({
        {tls_cert, "[tls]", "no [[listener]] defined"},
        {"listener = []\n" + tls_cert, "listener", "no [[listener]] defined"},
        {listener_with("name", ""), "[[listener]]", "missing 'name' in [[listener]]"},
        {listener_with("listen", ""), "[[listener]]", "missing 'listen' in [[listener]]"},
        {listener_with("protocol", ""), "[[listener]]", "missing 'protocol' in [[listener]]"},
        {listener_with("backend", ""), "[[listener]]", "missing 'backend' in [[listener]]"},
        {listener_with("protocol", "\"http\""), "\"http\"",
         "'protocol' must be one of \"imap\", \"pop3\", \"smtp\" (got \"http\")"},
        {listener(), "[[listener]]", "listener 'imaps' has no certificate: set cert in [tls] or [listener.tls]"},
        {tls_cert + listener() + listener("pop3s", "\"127.0.0.1:995\"", "[listener.tls]\ncert = \"\"\n"),
         "[[listener]]", "listener 'pop3s' has no certificate: set cert in [tls] or [listener.tls]", 1},
        {minimal + "[[local_name]]\nnames = [\"a.example\"]\n", "[[local_name]]", "missing 'cert' in [[local_name]]"},
        {minimal + "[[local_name]]\ncert = \"@DIR@/cert.pem\"\n", "[[local_name]]",
         "missing 'names' in [[local_name]]"},
        {minimal + "[[local]]\naddress = \"192.0.2.1\"\n", "[[local]]", "missing 'cert' in [[local]]"},
        {minimal + "[[local]]\ncert = \"@DIR@/cert.pem\"\n", "[[local]]", "missing 'address' in [[local]]"},
    });
}

TEST_CASE_FIXTURE(ConfigFixture, "every named file must be readable at load time") {
    auto in_tls = [](std::string_view line) { return "[tls]\n" + std::string(line) + "\n" + listener(); };
    check_rejected({
        {in_tls("cert = \"@DIR@/nope.pem\""), "\"@DIR@",
         "cannot read certificate file '@DIR@/nope.pem': No such file or directory"},
        {in_tls("cert = \"@DIR@\""), "\"@DIR@", "cannot read certificate file '@DIR@': Is a directory"},
        {tls_cert + "key = \"@DIR@/nope.key\"\n" + listener(), "\"@DIR@/nope",
         "cannot read key file '@DIR@/nope.key': No such file or directory"},
        {tls_cert + "key_password_file = \"@DIR@/nope\"\n" + listener(), "\"@DIR@/nope",
         "cannot read key password file '@DIR@/nope': No such file or directory"},
        {tls_cert + "alt_cert = \"@DIR@/nope\"\n" + listener(), "\"@DIR@/nope",
         "cannot read alternate certificate file '@DIR@/nope': No such file or directory"},
        {tls_cert + "alt_cert = \"@DIR@/alt.pem\"\nalt_key = \"@DIR@/nope\"\n" + listener(), "\"@DIR@/nope",
         "cannot read alternate key file '@DIR@/nope': No such file or directory"},
        {tls_cert + listener("imaps", "\"127.0.0.1:993\"", "[listener.tls]\ncert = \"@DIR@/nope\"\n"), "\"@DIR@/nope",
         "cannot read certificate file '@DIR@/nope': No such file or directory"},
        {minimal + "[[local_name]]\nnames = [\"a.example\"]\ncert = \"@DIR@/cert.pem\"\nkey = \"@DIR@/nope\"\n",
         "\"@DIR@/nope", "cannot read key file '@DIR@/nope': No such file or directory"},
        {minimal + "[[local]]\naddress = \"192.0.2.1\"\ncert = \"@DIR@/nope\"\n", "\"@DIR@/nope",
         "cannot read certificate file '@DIR@/nope': No such file or directory"},
        {in_tls("key = \"@DIR@/key.pem\""), "\"@DIR@/key.pem\"", "'key' is set but 'cert' is not"},
        {tls_cert + "alt_key = \"@DIR@/alt.key\"\n" + listener(), "\"@DIR@/alt.key\"",
         "'alt_key' is set but 'alt_cert' is not"},
    });
}
