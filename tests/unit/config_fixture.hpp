// ConfigFixture for the config tests: a temporary directory for the path keys, TOML snippets,
// and a check that a rejected config's error names FILE:LINE:COLUMN and the cause.
#pragma once
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
inline std::string place_of(const std::string& text, std::string_view needle, int occurrence = 0) {
    size_t at = text.find(needle);
    for (int i = 0; i < occurrence && at != std::string::npos; ++i) at = text.find(needle, at + 1);
    REQUIRE_MESSAGE(at != std::string::npos, "not in the text: ", needle);
    size_t line_start = text.rfind('\n', at);
    line_start = line_start == std::string::npos ? 0 : line_start + 1;
    auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
    return source_name + ":" + std::to_string(line) + ":" + std::to_string(at - line_start + 1);
}

inline std::string load_error(const std::string& text) {
    try {
        load_config_string(text, source_name);
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "(loaded without error)";
}

const std::string tls_cert = "[tls]\ncert = \"@DIR@/cert.pem\"\n";

inline std::string listener(std::string_view name = "imaps", std::string_view listen = "\"127.0.0.1:993\"",
                     std::string_view extra_keys = "") {
    return "[[listener]]\nname = \"" + std::string(name) + "\"\nlisten = " + std::string(listen) +
           "\nprotocol = \"imap\"\nbackend = \"127.0.0.1:143\"\n" + std::string(extra_keys);
}

const std::string minimal = tls_cert + listener();

// [tls] and the default listener with `key = value` in place of its line, or without it when
// `value` is empty.
inline std::string listener_with(std::string_view key, std::string_view value) {
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
