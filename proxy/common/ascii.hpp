// ASCII case folding for protocol words (IMAP/POP3/SMTP commands, HTTP header names): never the
// locale's, since a Turkish locale must not change what "LOGIN" means.
#pragma once

#include <algorithm>
#include <string_view>

namespace tlsfront {

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool ascii_iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

// Splits off the text before the first space (all of it without one); `rest` keeps what follows
// that space.
constexpr std::string_view next_word(std::string_view& rest) {
    size_t space = rest.find(' ');
    std::string_view word = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    return word;
}

}  // namespace tlsfront
