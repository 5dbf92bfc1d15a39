// Checks on config values that need no TOML (see config_checks.hpp).
#include "config/config_checks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace tlsfront::config_checks {

namespace {

constexpr size_t max_host_name_length = 253;
constexpr size_t max_label_length = 63;

bool is_ascii_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ascii_lower(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) { return ascii_lower(c); });
    return lower;
}

// Letters, digits and inner hyphens (RFC 1123): what SNI carries.
bool is_host_label(std::string_view label) {
    if (label.empty() || label.size() > max_label_length) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    return std::all_of(label.begin(), label.end(), [](char c) { return is_ascii_alnum(c) || c == '-'; });
}

// Closes the descriptor it owns.
struct FileDescriptor {
    int fd = -1;
    explicit FileDescriptor(int f) : fd(f) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd >= 0) ::close(fd);
    }
};

FileOpener& file_opener() {
    static FileOpener opener = [](const std::string& path) {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        return fd >= 0 ? fd : -errno;
    };
    return opener;
}

// Opens for reading; a directory opens fine on Linux but is no file to read, so it is refused.
std::optional<std::string> open_for_reading(const std::string& path, FileDescriptor& file) {
    int fd = file_opener()(path);
    if (fd < 0) return std::strerror(-fd);
    file.fd = fd;
    struct stat status {};
    if (::fstat(file.fd, &status) != 0) return std::strerror(errno);
    if (S_ISDIR(status.st_mode)) return std::strerror(EISDIR);
    return std::nullopt;
}

}  // namespace

void set_file_opener(FileOpener opener) { file_opener() = std::move(opener); }

bool is_valid_listener_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(),
                                        [](char c) { return is_ascii_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool is_host_name(std::string_view name) {
    if (name.empty() || name.size() > max_host_name_length) return false;
    while (true) {
        size_t dot = name.find('.');
        if (!is_host_label(name.substr(0, dot))) return false;
        if (dot == std::string_view::npos) return true;
        name.remove_prefix(dot + 1);
    }
}

std::string system_host_name() {
    char name[256] = {};
    if (gethostname(name, sizeof name - 1) == 0 && is_host_name(name)) return name;
    return "localhost";
}

LocalNameResult normalize_local_name(std::string_view text) {
    std::string name = ascii_lower(text);
    std::string_view host = name;
    if (host.starts_with("*.")) host.remove_prefix(2);
    if (host.find('*') != std::string_view::npos)
        return {std::nullopt, "'*' is only allowed as the whole first label, as in '*.example.org'"};
    if (!is_host_name(host)) return {std::nullopt, "not a valid host name"};
    return {std::move(name), {}};
}

std::optional<std::string> canonical_group_name(std::string_view text) {
    std::string upper(text);
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; });
    auto found = std::find(supported_groups.begin(), supported_groups.end(), upper);
    if (found == supported_groups.end()) return std::nullopt;
    return std::string(*found);
}

std::optional<std::string> unreadable_cause(const std::string& path) {
    FileDescriptor file(-1);
    return open_for_reading(path, file);
}

std::optional<std::string> read_text_file(const std::string& path, std::string& error) {
    FileDescriptor file(-1);
    if (auto cause = open_for_reading(path, file)) {
        error = *cause;
        return std::nullopt;
    }
    std::string text;
    std::array<char, 65536> chunk;
    while (true) {
        ssize_t got = ::read(file.fd, chunk.data(), chunk.size());
        if (got == 0) return text;
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            error = std::strerror(errno);
            return std::nullopt;
        }
        text.append(chunk.data(), static_cast<size_t>(got));
    }
}

}  // namespace tlsfront::config_checks
