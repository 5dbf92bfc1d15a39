// Checks on config values that need no TOML: names, host names, TLS groups and files. Kept apart
// from config_loader.cpp so that only one translation unit pays for including toml++.
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tlsfront::config_checks {

// Listener names appear in logs and metrics labels: [A-Za-z0-9_.-]+.
bool is_valid_listener_name(std::string_view name);

// A DNS host name: dot-separated RFC 1123 labels, at most 253 characters.
bool is_host_name(std::string_view name);

// This machine's host name (gethostname), or "localhost" when it is not a valid host name.
std::string system_host_name();

// A [[local_name]] name lower-cased: a host name, or "*." followed by a host name. On failure
// `name` is nullopt and `error` says why.
struct LocalNameResult {
    std::optional<std::string> name;
    std::string error;
};
LocalNameResult normalize_local_name(std::string_view text);

// The TLS groups (key exchange) the config may name, in their canonical spelling.
inline constexpr std::array<std::string_view, 4> supported_groups{"X25519", "P-256", "P-384", "P-521"};

// The canonical spelling of a group name given in any letter case, or nullopt.
std::optional<std::string> canonical_group_name(std::string_view text);

// How every file the config names is opened: open(2) unless the daemon installs another way
// (after dropping privileges, the privileged helper opens root-only keys for a reload). The opener
// returns a descriptor, or -errno. Only the thread that loads configs calls it.
using FileOpener = std::function<int(const std::string& path)>;
void set_file_opener(FileOpener opener);

// nullopt when `path` can be opened for reading, else the cause ("No such file or directory").
std::optional<std::string> unreadable_cause(const std::string& path);

// The whole file, or nullopt with `error` set to the cause.
std::optional<std::string> read_text_file(const std::string& path, std::string& error);

}  // namespace tlsfront::config_checks
