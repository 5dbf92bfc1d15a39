// Every key the config loader accepts (config/config_keys.hpp: the lists its unknown-key check
// uses) is documented in tlsfront.toml(5) under its table's section, and shown (commented or not)
// in packaging/tlsfront.example.toml in a table that takes it; neither names a key the loader
// refuses. The files are read from the source tree (TLSFRONT_SOURCE_DIR, set by meson).
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "config/config_keys.hpp"

namespace {

using tlsfront::config_keys::KeyList;
using tlsfront::config_keys::TableKeys;
using tlsfront::config_keys::tables;

const std::string kManPage = "docs/man/tlsfront.toml.5.scd";
const std::string kExampleConfig = "packaging/tlsfront.example.toml";

std::string read_source_file(const std::string& relative) {
    std::ifstream in(std::string(TLSFRONT_SOURCE_DIR) + "/" + relative);
    REQUIRE_MESSAGE(in.good(), "cannot read " << relative);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string trimmed(const std::string& text) {
    size_t begin = text.find_first_not_of(" \t");
    if (begin == std::string::npos) return "";
    return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

bool is_key_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

bool accepts(const TableKeys& table, std::string_view key) {
    return std::any_of(table.lists.begin(), table.lists.end(),
                       [key](KeyList list) { return std::find(list.begin(), list.end(), key) != list.end(); });
}

// "[server]", "[[local_name]]": how the man page heads a table's section and how a TOML file
// opens the table.
std::string header_of(std::string_view name, bool array) {
    return array ? "[[" + std::string(name) + "]]" : "[" + std::string(name) + "]";
}

std::string label_of(const TableKeys& table) {
    return table.name.empty() ? "top level" : header_of(table.name, table.array);
}

// The table whose man page section documents `list`: the first in config_keys::tables that takes it.
const TableKeys& documenting_table(KeyList list) {
    for (const TableKeys& table : tables)
        for (KeyList used : table.lists)
            if (used.data() == list.data()) return table;
    FAIL("a key list no table uses");
    return tables.front();
}

// ---- tlsfront.toml(5) --------------------------------------------------------------------------

// The scdoc source's "## " subsections: heading -> the keys documented there, as `*key* = ...`
// at the start of a line.
std::map<std::string, std::set<std::string>> documented_keys_by_section(const std::string& scd) {
    std::map<std::string, std::set<std::string>> sections;
    std::set<std::string>* current = nullptr;
    for (const std::string& line : lines_of(scd)) {
        if (line.starts_with("# ")) current = nullptr;
        if (line.starts_with("## ")) current = &sections[trimmed(line.substr(3))];
        if (!current || !line.starts_with("*")) continue;
        size_t end = 1;
        while (end < line.size() && is_key_char(line[end])) ++end;
        if (end > 1 && line.compare(end, 4, "* = ") == 0) current->insert(line.substr(1, end - 1));
    }
    return sections;
}

// "[tls] strict_sni" for each key the man page does not document where it should.
std::vector<std::string> undocumented_keys(const std::string& scd) {
    auto sections = documented_keys_by_section(scd);
    std::vector<std::string> missing;
    for (const TableKeys& table : tables)
        for (KeyList list : table.lists) {
            if (&documenting_table(list) != &table) continue;  // documented with an earlier table
            for (std::string_view key : list) {
                if (table.name.empty()) {  // a top-level key is a table: it has a section of its own
                    if (!sections.contains(header_of(key, false)) && !sections.contains(header_of(key, true)))
                        missing.push_back("section for table " + std::string(key));
                    continue;
                }
                auto section = sections.find(label_of(table));
                if (section == sections.end() || !section->second.contains(std::string(key)))
                    missing.push_back(label_of(table) + " " + std::string(key));
            }
        }
    return missing;
}

// "[server] workerz" for each key documented in a table's section that the table refuses.
std::vector<std::string> documented_but_refused(const std::string& scd) {
    std::vector<std::string> refused;
    for (const auto& [heading, keys] : documented_keys_by_section(scd))
        for (const TableKeys& table : tables)
            if (!table.name.empty() && label_of(table) == heading)
                for (const std::string& key : keys)
                    if (!accepts(table, key)) refused.push_back(heading + " " + key);
    return refused;
}

// ---- packaging/tlsfront.example.toml -----------------------------------------------------------

// The example's tables as written: header name ("listener.tls", "" before the first header) ->
// the keys written in them, `key = ...` or `# key = ...`.
struct ExampleConfig {
    std::map<std::string, std::set<std::string>> keys_by_table;
    std::set<std::string> headers;
};

ExampleConfig read_example(const std::string& toml) {
    ExampleConfig example;
    std::string table;
    example.keys_by_table[table];
    for (const std::string& raw : lines_of(toml)) {
        std::string line = trimmed(raw);
        if (line.starts_with("[")) {  // [name] or [[name]], maybe with a comment after it
            size_t close = line.find(']');
            if (close == std::string::npos) continue;
            table = line.substr(line.starts_with("[[") ? 2 : 1, close - (line.starts_with("[[") ? 2 : 1));
            example.headers.insert(table);
            example.keys_by_table[table];
            continue;
        }
        if (line.starts_with("#")) line = trimmed(line.substr(1));
        size_t end = 0;
        while (end < line.size() && is_key_char(line[end])) ++end;
        if (end > 0 && trimmed(line.substr(end)).starts_with("="))
            example.keys_by_table[table].insert(line.substr(0, end));
    }
    return example;
}

const TableKeys* table_named(const std::string& name) {
    for (const TableKeys& table : tables)
        if (table.name == name) return &table;
    return nullptr;
}

// "[[listener]] proxy_header_limit" for each key the example shows in no table that takes it.
// A key whose value is a table (the top-level tables, [[listener]]'s tls) shows as its header.
std::vector<std::string> keys_missing_from_example(const std::string& toml) {
    ExampleConfig example = read_example(toml);
    std::vector<std::string> missing;
    for (const TableKeys& table : tables)
        for (KeyList list : table.lists) {
            if (&documenting_table(list) != &table) continue;  // a shared list: checked once
            for (std::string_view key : list) {
                std::string sub_table =
                    table.name.empty() ? std::string(key) : std::string(table.name) + "." + std::string(key);
                bool shown = example.headers.contains(sub_table);
                for (const auto& [name, keys] : example.keys_by_table) {
                    const TableKeys* written = table_named(name);
                    if (written && accepts(*written, key) && keys.contains(std::string(key))) shown = true;
                }
                if (!shown) missing.push_back(label_of(table) + " " + std::string(key));
            }
        }
    return missing;
}

// "[[local]] names" for each key written (commented or not) in a table that refuses it.
std::vector<std::string> example_keys_refused(const std::string& toml) {
    std::vector<std::string> refused;
    for (const auto& [name, keys] : read_example(toml).keys_by_table) {
        const TableKeys* table = table_named(name);
        for (const std::string& key : keys)
            if (!table || !accepts(*table, key))
                refused.push_back((table ? label_of(*table) : "[" + name + "]") + " " + key);
    }
    return refused;
}

std::string listed(const std::vector<std::string>& items) {
    std::string text;
    for (const std::string& item : items) text += "\n  " + item;
    return text;
}

// `text` without its lines that start with `prefix`, after blanks or after "# " (a commented key).
std::string without_lines_starting(const std::string& text, const std::string& prefix) {
    std::string out;
    for (const std::string& line : lines_of(text)) {
        std::string bare = trimmed(line);
        std::string uncommented = bare.starts_with("#") ? trimmed(bare.substr(1)) : bare;
        if (!bare.starts_with(prefix) && !uncommented.starts_with(prefix)) out += line + "\n";
    }
    return out;
}

}  // namespace

TEST_CASE("every key the config loader accepts is documented in tlsfront.toml(5), in its table's section") {
    const std::string scd = read_source_file(kManPage);
    auto missing = undocumented_keys(scd);
    CHECK_MESSAGE(missing.empty(), kManPage << " does not document:" << listed(missing));
    auto refused = documented_but_refused(scd);
    CHECK_MESSAGE(refused.empty(), kManPage << " documents keys the loader refuses:" << listed(refused));
}

TEST_CASE("every key the config loader accepts is shown in the example config, in a table that takes it") {
    const std::string toml = read_source_file(kExampleConfig);
    auto missing = keys_missing_from_example(toml);
    CHECK_MESSAGE(missing.empty(), kExampleConfig << " does not show:" << listed(missing));
    auto refused = example_keys_refused(toml);
    CHECK_MESSAGE(refused.empty(), kExampleConfig << " writes keys where the loader refuses them:" << listed(refused));
}

TEST_CASE("the documentation checks notice a key that is missing or misplaced") {
    const std::string scd = read_source_file(kManPage);
    CHECK(listed(undocumented_keys(without_lines_starting(scd, "*strict_sni* ="))) == listed({"[tls] strict_sni"}));
    CHECK(listed(undocumented_keys(without_lines_starting(scd, "## [[local]]"))) ==
          listed({"section for table local", "[[local]] address"}));
    // *names* documented under [[local]] instead of [[local_name]]
    std::string moved = without_lines_starting(scd, "*names* =");
    moved.insert(moved.find("\n*address* =") + 1, "*names* = _array of strings_\n");
    CHECK(listed(undocumented_keys(moved)) == listed({"[[local_name]] names"}));
    CHECK(listed(documented_but_refused(moved)) == listed({"[[local]] names"}));

    const std::string toml = read_source_file(kExampleConfig);
    CHECK(listed(keys_missing_from_example(without_lines_starting(toml, "proxy_header_limit"))) ==
          listed({"[[listener]] proxy_header_limit"}));
    CHECK(listed(keys_missing_from_example(without_lines_starting(toml, "[listener.tls]"))) ==
          listed({"[[listener]] tls"}));
    CHECK(listed(example_keys_refused(toml + "[[local]]\n# names = [\"x\"]\n")) == listed({"[[local]] names"}));
}
