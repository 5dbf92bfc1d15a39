// Checks on config values that need no TOML: names, host names, TLS groups and files. Kept apart
// from config_loader.cpp so that only one translation unit pays for including toml++.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tlsfront::config_checks {

// Listener names appear in logs and metrics labels: [A-Za-z0-9_.-]+.
bool is_valid_listener_name(std::string_view name);

// A [[local_name]] name lower-cased: a host name, or "*." followed by a host name. On failure
// `name` is nullopt and `error` says why.
struct LocalNameResult {
    std::optional<std::string> name;
    std::string error;
};
LocalNameResult normalize_local_name(std::string_view text);

// The canonical spelling ("X25519", "P-256", "P-384", "P-521") of a TLS group name given in any
// letter case, or nullopt.
std::optional<std::string> canonical_group_name(std::string_view text);
inline constexpr std::string_view supported_groups_text = "X25519, P-256, P-384, P-521";

// nullopt when `path` can be opened for reading, else the cause ("No such file or directory").
std::optional<std::string> unreadable_cause(const std::string& path);

// The whole file, or nullopt with `error` set to the cause.
std::optional<std::string> read_text_file(const std::string& path, std::string& error);

}  // namespace tlsfront::config_checks
