// TOML text -> validated Config. The only file that includes toml++ (it costs seconds per
// translation unit); value checks that need no TOML live in config_checks.cpp.
#include "config/config_loader.hpp"

#include <grp.h>
#include <pwd.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <map>
#include <span>

#include "config/config_checks.hpp"
#include "config/config_keys.hpp"
#include "config/duration.hpp"

namespace tlsfront {

namespace {

using config_keys::KeyList;

[[noreturn]] void fail(const SourcePlace& place, const std::string& cause) {
    throw ConfigError(place.describe() + ": " + cause);
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

std::string joined(std::span<const std::string_view> words) {
    std::string text;
    for (std::string_view word : words) text += (text.empty() ? "" : ", ") + std::string(word);
    return text;
}

SourcePlace place_in(const std::string& file, const toml::source_region& region) {
    return {file, region.begin.line, region.begin.column};
}

// A key present in a table, with its value.
struct Field {
    std::string_view key;
    const toml::node& node;
};

// A string value with the place it was written.
struct PlacedText {
    std::string text;
    SourcePlace place;
};

// One TOML table and what messages about it need: its label ("[server]") and the file name.
class TableReader {
public:
    TableReader(const toml::table& table, std::string label, const std::string& file)
        : table_(table), label_(std::move(label)), file_(file) {}

    SourcePlace place() const { return place_of(table_); }
    SourcePlace place_of(const toml::node& node) const { return place_in(file_, node.source()); }
    [[noreturn]] void fail_at(const Field& field, const std::string& cause) const { fail(place_of(field.node), cause); }

    // The first unknown key in file order is reported, whatever order toml++ iterates in.
    void reject_unknown_keys(std::span<const KeyList> known) const {
        const toml::key* first_unknown = nullptr;
        for (auto&& [key, value] : table_) {
            if (is_known(key.str(), known)) continue;
            if (!first_unknown || key.source().begin < first_unknown->source().begin) first_unknown = &key;
        }
        if (first_unknown)
            fail(place_in(file_, first_unknown->source()),
                 "unknown key " + quoted(first_unknown->str()) + " in " + label_);
    }

    std::optional<Field> find(std::string_view key) const {
        const toml::node* node = table_.get(key);
        if (!node) return std::nullopt;
        return Field{key, *node};
    }

    Field require(std::string_view key) const {
        if (auto field = find(key)) return *field;
        fail(place(), "missing " + quoted(key) + " in " + label_);
    }

    const std::string& string_of(const Field& field, std::string_view what = "a string") const {
        if (const auto* value = field.node.as_string()) return value->get();
        fail_at(field, quoted(field.key) + " must be " + std::string(what));
    }

    PlacedText placed_string_of(const Field& field) const { return {string_of(field), place_of(field.node)}; }

    int64_t integer_of(const Field& field) const {
        if (const auto* value = field.node.as_integer()) return value->get();
        fail_at(field, quoted(field.key) + " must be an integer");
    }

    bool boolean_of(const Field& field) const {
        if (const auto* value = field.node.as_boolean()) return value->get();
        fail_at(field, quoted(field.key) + " must be true or false");
    }

    // An array of strings; with `single_allowed`, a lone string counts as an array of one.
    std::vector<PlacedText> strings_of(const Field& field, bool single_allowed) const {
        const std::string what = single_allowed ? "a string or an array of strings" : "an array of strings";
        if (single_allowed && field.node.is_string()) return {placed_string_of(field)};
        const toml::array* array = field.node.as_array();
        if (!array) fail_at(field, quoted(field.key) + " must be " + what);
        std::vector<PlacedText> items;
        for (const toml::node& element : *array) {
            const auto* text = element.as_string();
            if (!text) fail(place_of(element), quoted(field.key) + " must be " + what);
            items.push_back({text->get(), place_of(element)});
        }
        return items;
    }

    TableReader sub_table(const Field& field, std::string label) const {
        const toml::table* table = field.node.as_table();
        if (!table) fail_at(field, quoted(field.key) + " must be a table (" + label + ")");
        return TableReader(*table, std::move(label), file_);
    }

    std::vector<TableReader> tables_of(const Field& field, const std::string& label) const {
        const toml::array* array = field.node.as_array();
        if (!array || (!array->empty() && !array->is_array_of_tables()))
            fail_at(field, quoted(field.key) + " must be an array of tables (" + label + ")");
        std::vector<TableReader> tables;
        for (const toml::node& element : *array) tables.emplace_back(*element.as_table(), label, file_);
        return tables;
    }

private:
    static bool is_known(std::string_view key, std::span<const KeyList> known) {
        return std::any_of(known.begin(), known.end(),
                           [key](KeyList list) { return std::find(list.begin(), list.end(), key) != list.end(); });
    }

    const toml::table& table_;
    std::string label_;
    const std::string& file_;
};

// ---- Generic value rules -------------------------------------------------------------------

template <typename E>
struct Choice {
    std::string_view name;
    E value;
};

template <typename E, size_t N>
E choose(const TableReader& table, const Field& field, const std::array<Choice<E>, N>& choices) {
    std::string names;
    for (const auto& choice : choices) names += (names.empty() ? "\"" : ", \"") + std::string(choice.name) + "\"";
    const std::string& text = table.string_of(field, "a string (one of " + names + ")");
    for (const auto& choice : choices)
        if (choice.name == text) return choice.value;
    table.fail_at(field, quoted(field.key) + " must be one of " + names + " (got \"" + text + "\")");
}

int64_t integer_in_range(const TableReader& table, const Field& field, int64_t min, int64_t max) {
    int64_t value = table.integer_of(field);
    if (value < min || value > max)
        table.fail_at(field,
                      quoted(field.key) + " must be between " + std::to_string(min) + " and " + std::to_string(max));
    return value;
}

enum class ZeroDuration { refused, allowed };

void read_duration(const TableReader& table, std::string_view key, std::chrono::milliseconds& out,
                   ZeroDuration zero = ZeroDuration::refused) {
    auto field = table.find(key);
    if (!field) return;
    const std::string& text = table.string_of(*field, "a duration string such as \"10s\"");
    auto duration = parse_duration(text);
    if (!duration)
        table.fail_at(*field,
                      "bad duration " + quoted(text) + " for " + quoted(key) + " (use e.g. 500ms, 10s, 35m, 1h)");
    if (duration->count() == 0 && zero == ZeroDuration::refused)
        table.fail_at(*field, quoted(key) + " must be greater than 0");
    out = *duration;
}

SocketAddress read_address(const PlacedText& text, std::string_view key, bool allow_unix, bool require_port) {
    auto parsed = parse_socket_address(text.text, allow_unix, require_port);
    if (!parsed.address) fail(text.place, "bad " + quoted(key) + ": " + parsed.error);
    return *parsed.address;
}

// ---- [server] ------------------------------------------------------------------------------

constexpr std::array<Choice<LogLevel>, 4> log_levels{
    {{"error", LogLevel::error}, {"warn", LogLevel::warn}, {"info", LogLevel::info}, {"debug", LogLevel::debug}}};
constexpr std::array<Choice<LogFormat>, 2> log_formats{{{"text", LogFormat::text}, {"json", LogFormat::json}}};

// user/group must exist now: a typo must not surface only after the listeners are bound.
void read_account(const TableReader& table, std::string_view key, std::string& out) {
    auto field = table.find(key);
    if (!field) return;
    out = table.string_of(*field);
    if (out.empty()) return;
    bool exists = key == "user" ? getpwnam(out.c_str()) != nullptr : getgrnam(out.c_str()) != nullptr;
    if (!exists) table.fail_at(*field, "unknown " + std::string(key) + " " + quoted(out));
}

ServerSettings read_server(const TableReader& table) {
    table.reject_unknown_keys(config_keys::server_table);
    ServerSettings server;
    if (auto field = table.find("workers"))
        server.workers = static_cast<unsigned>(integer_in_range(table, *field, 0, 1024));
    if (auto field = table.find("max_connections"))
        server.max_connections = static_cast<uint64_t>(integer_in_range(table, *field, 1, 10'000'000));
    read_duration(table, "handshake_timeout", server.handshake_timeout);
    read_duration(table, "connect_timeout", server.connect_timeout);
    read_duration(table, "idle_timeout", server.idle_timeout);
    read_duration(table, "shutdown_grace", server.shutdown_grace, ZeroDuration::allowed);
    if (auto field = table.find("log_level")) server.log_level = choose(table, *field, log_levels);
    if (auto field = table.find("log_format")) server.log_format = choose(table, *field, log_formats);
    read_account(table, "user", server.user);
    read_account(table, "group", server.group);
    if (auto field = table.find("admin"); field && !table.string_of(*field).empty())
        server.admin = read_address(table.placed_string_of(*field), "admin", false, true);
    return server;
}

// ---- Certificate keys and TLS blocks -------------------------------------------------------

// A path key: the file must be readable now, so that a typo fails at start-up, not at the first
// handshake.
std::optional<ConfiguredPath> read_path(const TableReader& table, std::string_view key, std::string_view what) {
    auto field = table.find(key);
    if (!field) return std::nullopt;
    ConfiguredPath path{table.string_of(*field), table.place_of(field->node)};
    if (path.empty()) return path;
    if (auto cause = config_checks::unreadable_cause(path.path))
        fail(path.place, "cannot read " + std::string(what) + " " + quoted(path.path) + ": " + *cause);
    return path;
}

bool names_a_file(const std::optional<ConfiguredPath>& path) { return path && !path->empty(); }

// The certificate keys of one block laid over `source` (the inherited ones). Within a block a
// cert named without a key holds its own key (key = cert), likewise alt_key = alt_cert. The
// password file belongs to the key of the block that names it: a block that names a new key but
// no key_password_file inherits none.
CertificateSource read_certificate_keys(const TableReader& table, CertificateSource source) {
    auto cert = read_path(table, "cert", "certificate file");
    auto key = read_path(table, "key", "key file");
    auto password = read_path(table, "key_password_file", "key password file");
    auto alt_cert = read_path(table, "alt_cert", "alternate certificate file");
    auto alt_key = read_path(table, "alt_key", "alternate key file");

    if (cert) source.key = source.cert = *cert;
    if (names_a_file(key)) source.key = *key;
    if (alt_cert) source.alt_key = source.alt_cert = *alt_cert;
    if (names_a_file(alt_key)) source.alt_key = *alt_key;
    if (password)
        source.key_password_file = *password;
    else if (names_a_file(cert) || names_a_file(key))
        source.key_password_file = {};
    // An OCSP response belongs to its certificate: a block naming a new one inherits none.
    auto ocsp = read_path(table, "ocsp_response", "OCSP response file");
    auto alt_ocsp = read_path(table, "alt_ocsp_response", "alternate OCSP response file");
    if (ocsp) source.ocsp_response = *ocsp;
    else if (names_a_file(cert)) source.ocsp_response = {};
    if (alt_ocsp) source.alt_ocsp_response = *alt_ocsp;
    else if (names_a_file(alt_cert)) source.alt_ocsp_response = {};

    if (!source.key.empty() && source.cert.empty()) fail(source.key.place, "'key' is set but 'cert' is not");
    if (!source.alt_key.empty() && source.alt_cert.empty())
        fail(source.alt_key.place, "'alt_key' is set but 'alt_cert' is not");
    if (!source.ocsp_response.empty() && source.cert.empty())
        fail(source.ocsp_response.place, "'ocsp_response' is set but 'cert' is not");
    if (!source.alt_ocsp_response.empty() && source.alt_cert.empty())
        fail(source.alt_ocsp_response.place, "'alt_ocsp_response' is set but 'alt_cert' is not");
    return source;
}

void require_certificate(const TableReader& table, const CertificateSource& source, const std::string& label) {
    if (!source.has_cert()) fail(table.place(), "missing 'cert' in " + label);
}

constexpr std::array<Choice<TlsVersion>, 2> tls_versions{{{"1.2", TlsVersion::tls1_2}, {"1.3", TlsVersion::tls1_3}}};

constexpr std::array<Choice<VerifyClient>, 3> verify_client_modes{
    {{"off", VerifyClient::off}, {"optional", VerifyClient::optional}, {"required", VerifyClient::required}}};

std::vector<std::string> read_groups(const TableReader& table, const Field& field) {
    auto items = table.strings_of(field, false);
    if (items.empty()) table.fail_at(field, "'groups' must not be empty");
    std::vector<std::string> groups;
    for (const PlacedText& item : items) {
        auto group = config_checks::canonical_group_name(item.text);
        if (!group)
            fail(item.place, "unknown group " + quoted(item.text) + " in 'groups' (use " +
                                 joined(config_checks::supported_groups) + ")");
        if (std::find(groups.begin(), groups.end(), *group) != groups.end())
            fail(item.place, "duplicate group " + quoted(item.text) + " in 'groups'");
        groups.push_back(*group);
    }
    return groups;
}

void read_client_verification(const TableReader& table, TlsSettings& settings) {
    if (auto path = read_path(table, "client_ca", "client CA file")) settings.client_ca = *path;
    if (auto path = read_path(table, "client_crl", "client CRL file")) settings.client_crl = *path;
    if (auto field = table.find("verify_client")) {
        settings.verify_client = choose(table, *field, verify_client_modes);
        settings.verify_client_place = table.place_of(field->node);
    }
    if (settings.verify_client != VerifyClient::off && settings.client_ca.empty())
        fail(settings.verify_client_place, "'verify_client' = \"" + std::string(to_string(settings.verify_client)) +
                                               "\" needs 'client_ca' (the CA bundle client certificates must chain to)");
    if (!settings.client_crl.empty() && settings.client_ca.empty())
        fail(settings.client_crl.place, "'client_crl' is set but 'client_ca' is not");
}

// [tls] and [listener.tls]: the keys the block names, laid over `settings`.
TlsSettings read_tls_block(const TableReader& table, TlsSettings settings) {
    table.reject_unknown_keys(config_keys::tls_table);
    settings.certificate = read_certificate_keys(table, settings.certificate);
    if (auto field = table.find("min_version")) settings.min_version = choose(table, *field, tls_versions);
    if (auto field = table.find("ciphers")) {
        settings.ciphers = table.string_of(*field);
        settings.ciphers_place = table.place_of(field->node);
    }
    if (auto field = table.find("groups")) {
        settings.groups = read_groups(table, *field);
        settings.groups_place = table.place_of(field->node);
    }
    if (auto field = table.find("session_tickets")) settings.session_tickets = table.boolean_of(*field);
    if (auto path = read_path(table, "ticket_key_file", "ticket key file")) settings.ticket_key_file = *path;
    if (auto field = table.find("strict_sni")) settings.strict_sni = table.boolean_of(*field);
    read_client_verification(table, settings);
    return settings;
}

// ---- [[local_name]] and [[local]] ----------------------------------------------------------

// Names are unique across all [[local_name]] blocks: the first place that named each.
using NamePlaces = std::map<std::string, SourcePlace>;

LocalNameConfig read_local_name(const TableReader& table, NamePlaces& seen) {
    table.reject_unknown_keys(config_keys::local_name_table);
    LocalNameConfig local_name;
    local_name.place = table.place();
    Field names_field = table.require("names");
    auto items = table.strings_of(names_field, false);
    if (items.empty()) table.fail_at(names_field, "'names' must not be empty");
    for (const PlacedText& item : items) {
        auto normalized = config_checks::normalize_local_name(item.text);
        if (!normalized.name) fail(item.place, "bad name " + quoted(item.text) + " in 'names': " + normalized.error);
        auto [first, inserted] = seen.emplace(*normalized.name, item.place);
        if (!inserted)
            fail(item.place, "duplicate local_name " + quoted(*normalized.name) + " (first defined at " +
                                 first->second.describe() + ")");
        local_name.names.push_back(*normalized.name);
    }
    local_name.certificate = read_certificate_keys(table, {});
    require_certificate(table, local_name.certificate, "[[local_name]]");
    return local_name;
}

LocalAddressConfig read_local(const TableReader& table, const std::vector<LocalAddressConfig>& earlier) {
    table.reject_unknown_keys(config_keys::local_table);
    LocalAddressConfig local;
    local.place = table.place();
    PlacedText address = table.placed_string_of(table.require("address"));
    local.address = read_address(address, "address", false, false);
    for (const LocalAddressConfig& other : earlier)
        if (other.address == local.address)
            fail(address.place, "duplicate [[local]] address " + quoted(address.text) + " (first defined at " +
                                    other.place.describe() + ")");
    local.certificate = read_certificate_keys(table, {});
    require_certificate(table, local.certificate, "[[local]]");
    return local;
}

// ---- [[listener]] --------------------------------------------------------------------------

constexpr std::array<Choice<MailProtocol>, 3> mail_protocols{
    {{"imap", MailProtocol::imap}, {"pop3", MailProtocol::pop3}, {"smtp", MailProtocol::smtp}}};
constexpr std::array<Choice<StartTlsMode>, 3> starttls_modes{
    {{"off", StartTlsMode::off}, {"required", StartTlsMode::required}, {"optional", StartTlsMode::optional}}};
constexpr std::array<Choice<ProxyProtocolVersion>, 3> proxy_protocol_versions{
    {{"off", ProxyProtocolVersion::off}, {"v1", ProxyProtocolVersion::v1}, {"v2", ProxyProtocolVersion::v2}}};

// Reads the [[listener]] tables in order, remembering names and listen addresses so that each
// may be used once across all listeners.
class ListenerReader {
public:
    explicit ListenerReader(const TlsSettings& global_tls) : global_tls_(global_tls) {}

    ListenerConfig read(const TableReader& table) {
        table.reject_unknown_keys(config_keys::listener_table);
        ListenerConfig listener;
        listener.place = table.place();
        listener.name = read_name(table);
        listener.listen = read_listen(table, listener.name);
        listener.protocol = choose(table, table.require("protocol"), mail_protocols);
        read_starttls(table, listener);
        listener.backend = read_address(table.placed_string_of(table.require("backend")), "backend", true, true);
        read_proxy_protocol(table, listener);
        if (auto field = table.find("accept_proxy_from"))
            for (const PlacedText& item : table.strings_of(*field, false)) {
                auto parsed = parse_cidr(item.text);
                if (!parsed.range) fail(item.place, "bad 'accept_proxy_from': " + parsed.error);
                listener.accept_proxy_from.push_back(*parsed.range);
            }
        listener.tls = global_tls_;
        if (auto field = table.find("tls"))
            listener.tls = read_tls_block(table.sub_table(*field, "[listener.tls]"), global_tls_);
        if (!listener.tls.certificate.has_cert())
            fail(listener.place,
                 "listener " + quoted(listener.name) + " has no certificate: set cert in [tls] or [listener.tls]");
        return listener;
    }

private:
    struct UsedAddress {
        SocketAddress address;
        std::string listener;
        SourcePlace place;
    };

    // starttls, and greeting_name for the greetings tlsfront itself sends before TLS.
    static void read_starttls(const TableReader& table, ListenerConfig& listener) {
        if (auto field = table.find("starttls")) {
            listener.starttls = choose(table, *field, starttls_modes);
            if (listener.starttls == StartTlsMode::optional && listener.protocol != MailProtocol::smtp)
                table.fail_at(*field, "starttls = \"optional\" is only for protocol \"smtp\" (port 25, where "
                                      "MTA-to-MTA delivery must work without TLS); use \"required\" with protocol \"" +
                                          std::string(to_string(listener.protocol)) + "\"");
        }
        listener.greeting_name = config_checks::system_host_name();
        if (auto field = table.find("greeting_name")) {
            listener.greeting_name = table.string_of(*field);
            if (!config_checks::is_host_name(listener.greeting_name))
                table.fail_at(*field, "'greeting_name' " + quoted(listener.greeting_name) + " is not a host name");
        }
    }

    // proxy_protocol, and which TLVs (a profile name or a list of TLV names) within what size.
    static void read_proxy_protocol(const TableReader& table, ListenerConfig& listener) {
        ProxyTlvProfile defaults = default_proxy_tlvs(static_cast<int>(listener.protocol));
        listener.proxy_tlvs = defaults.tlvs;
        listener.proxy_header_limit = defaults.header_limit;
        listener.proxy_protocol_place = table.place();
        if (auto field = table.find("proxy_protocol")) {
            listener.proxy_protocol = choose(table, *field, proxy_protocol_versions);
            listener.proxy_protocol_place = table.place_of(field->node);
        }
        if (auto field = table.find("proxy_protocol_tlvs")) {
            if (field->node.is_string()) {
                auto profile = proxy_tlv_profile(table.string_of(*field));
                if (!profile)
                    table.fail_at(*field, "unknown 'proxy_protocol_tlvs' profile " + quoted(table.string_of(*field)) +
                                              " (use minimal, dovecot, postfix, none, or a list of TLV names)");
                listener.proxy_tlvs = profile->tlvs;
                listener.proxy_header_limit = profile->header_limit;
            } else {
                listener.proxy_tlvs = 0;
                for (const PlacedText& item : table.strings_of(*field, false)) {
                    auto tlv = proxy_tlv_from_name(item.text);
                    if (!tlv)
                        fail(item.place, "unknown TLV " + quoted(item.text) +
                                             " (use alpn, authority, unique_id, ssl, ssl_version, ssl_cn, "
                                             "ssl_cipher, ssl_sig_alg, ssl_key_alg)");
                    listener.proxy_tlvs |= *tlv;
                }
            }
        }
        if (auto field = table.find("proxy_header_limit"))
            listener.proxy_header_limit = static_cast<uint32_t>(integer_in_range(table, *field, 16, 65535));
    }

    std::string read_name(const TableReader& table) {
        PlacedText name = table.placed_string_of(table.require("name"));
        if (name.text.empty()) fail(name.place, "'name' must not be empty");
        if (!config_checks::is_valid_listener_name(name.text))
            fail(name.place,
                 "listener name " + quoted(name.text) + " may only contain letters, digits, '_', '.' and '-'");
        auto [first, inserted] = names_.emplace(name.text, table.place());
        if (!inserted)
            fail(name.place, "duplicate listener name " + quoted(name.text) + " (first defined at " +
                                 first->second.describe() + ")");
        return name.text;
    }

    std::vector<SocketAddress> read_listen(const TableReader& table, const std::string& listener_name) {
        Field field = table.require("listen");
        auto items = table.strings_of(field, true);
        if (items.empty()) table.fail_at(field, "'listen' must not be empty");
        std::vector<SocketAddress> addresses;
        for (const PlacedText& item : items) {
            SocketAddress address = read_address(item, "listen", false, true);
            for (const UsedAddress& used : used_addresses_)
                if (used.address == address)
                    fail(item.place, "duplicate listen address " + quoted(item.text) + " (first used by listener " +
                                         quoted(used.listener) + " at " + used.place.describe() + ")");
            used_addresses_.push_back({address, listener_name, item.place});
            addresses.push_back(address);
        }
        return addresses;
    }

    const TlsSettings& global_tls_;
    NamePlaces names_;  // listener name -> its [[listener]] table
    std::vector<UsedAddress> used_addresses_;
};

// ---- The document --------------------------------------------------------------------------

Config build_config(const toml::table& root, const std::string& file) {
    TableReader top(root, "the top-level table", file);
    top.reject_unknown_keys(config_keys::top_level_table);
    Config config;
    config.path = file;
    if (auto field = top.find("server")) config.server = read_server(top.sub_table(*field, "[server]"));
    if (auto field = top.find("tls")) config.tls = read_tls_block(top.sub_table(*field, "[tls]"), TlsSettings{});
    if (auto field = top.find("local_name")) {
        NamePlaces seen;
        for (const TableReader& table : top.tables_of(*field, "[[local_name]]"))
            config.local_names.push_back(read_local_name(table, seen));
    }
    if (auto field = top.find("local")) {
        for (const TableReader& table : top.tables_of(*field, "[[local]]"))
            config.locals.push_back(read_local(table, config.locals));
    }
    if (auto field = top.find("listener")) {
        ListenerReader reader(config.tls);
        for (const TableReader& table : top.tables_of(*field, "[[listener]]"))
            config.listeners.push_back(reader.read(table));
    }
    if (config.listeners.empty()) fail(top.place(), "no [[listener]] defined");
    return config;
}

}  // namespace

Config load_config_string(std::string_view toml_text, const std::string& source_name) {
    toml::table root;
    try {
        root = toml::parse(toml_text, std::string_view(source_name));
    } catch (const toml::parse_error& error) {
        fail(place_in(source_name, error.source()), "TOML syntax error: " + std::string(error.description()));
    }
    return build_config(root, source_name);
}

Config load_config_file(const std::string& path) {
    std::string cause;
    auto text = config_checks::read_text_file(path, cause);
    if (!text) throw ConfigError(path + ": cannot read config: " + cause);
    return load_config_string(*text, path);
}

}  // namespace tlsfront
