// Every key the config loader accepts, table by table. The loader rejects any other key with these
// lists, and a unit test checks that tlsfront.toml(5) and packaging/tlsfront.example.toml name
// each of them: one list, so the documentation cannot drift from what the loader takes.
#pragma once

#include <array>
#include <span>
#include <string_view>

namespace tlsfront::config_keys {

using KeyList = std::span<const std::string_view>;

// clang-format off
inline constexpr std::array<std::string_view, 5> top_level{"server", "tls", "local_name", "local", "listener"};

inline constexpr std::array<std::string_view, 11> server{
    "workers", "max_connections", "handshake_timeout", "connect_timeout", "idle_timeout", "shutdown_grace",
    "log_level", "log_format", "user", "group", "admin"};

// A certificate and its key: in [tls], [listener.tls], [[local_name]] and [[local]].
inline constexpr std::array<std::string_view, 7> certificate{
    "cert", "key", "key_password_file", "alt_cert", "alt_key", "ocsp_response", "alt_ocsp_response"};

// The rest of [tls] and [listener.tls].
inline constexpr std::array<std::string_view, 9> tls{
    "min_version", "ciphers", "groups", "session_tickets",
    "client_ca", "client_crl", "verify_client", "ticket_key_file", "strict_sni"};

inline constexpr std::array<std::string_view, 1> local_name{"names"};
inline constexpr std::array<std::string_view, 1> local{"address"};

// "tls" is the [listener.tls] sub-table.
inline constexpr std::array<std::string_view, 11> listener{
    "name", "listen", "protocol", "starttls", "greeting_name", "backend", "proxy_protocol", "proxy_protocol_tlvs",
    "proxy_header_limit", "accept_proxy_from", "tls"};

// What each table accepts: the lists above it takes its keys from.
inline constexpr std::array<KeyList, 1> top_level_table{top_level};
inline constexpr std::array<KeyList, 1> server_table{server};
inline constexpr std::array<KeyList, 2> tls_table{certificate, tls};  // [tls] and [listener.tls]
inline constexpr std::array<KeyList, 2> local_name_table{local_name, certificate};
inline constexpr std::array<KeyList, 2> local_table{local, certificate};
inline constexpr std::array<KeyList, 1> listener_table{listener};
// clang-format on

struct TableKeys {
    std::string_view name;  // its header without brackets: "server", "listener.tls"; "" for the top level
    bool array;             // an array of tables: [[name]]
    std::span<const KeyList> lists;
};

// Every table of the file, in the order tlsfront.toml(5) documents them. Where a key list is used
// by several tables, the first of them is the one whose section documents it.
inline constexpr std::array<TableKeys, 7> tables{{
    {"", false, top_level_table},
    {"server", false, server_table},
    {"tls", false, tls_table},
    {"local_name", true, local_name_table},
    {"local", true, local_table},
    {"listener", true, listener_table},
    {"listener.tls", false, tls_table},
}};

}  // namespace tlsfront::config_keys
