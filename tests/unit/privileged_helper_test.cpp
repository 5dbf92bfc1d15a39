// The privileged helper serves the config file, the files it names and its listen addresses, and
// nothing else; after a refresh it follows the config on disk. Runs a real helper process.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config_fixture.hpp"
#include "proxy/daemon/privileged_helper.hpp"
#include "proxy/net/listener_socket.hpp"

namespace {

uint16_t free_port() {
    UniqueFd probe(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(probe.get(), reinterpret_cast<sockaddr*>(&any), sizeof any) == 0);
    socklen_t length = sizeof any;
    getsockname(probe.get(), reinterpret_cast<sockaddr*>(&any), &length);
    return ntohs(any.sin_port);
}

std::string config_naming(const TempFiles& files, const std::string& cert, uint16_t port) {
    return files.expand("[tls]\ncert = \"@DIR@/" + cert + "\"\n[[listener]]\nname = \"imaps\"\nlisten = \"127.0.0.1:" +
                        std::to_string(port) + "\"\nprotocol = \"imap\"\nbackend = \"127.0.0.1:143\"\n");
}

}  // namespace

TEST_CASE("the privileged helper opens only what the config names") {
    TempFiles files;
    uint16_t port = free_port(), other_port = free_port();
    files.write("tlsfront.toml", config_naming(files, "cert.pem", port));
    auto helper = PrivilegedHelper::start(files.path("tlsfront.toml"));

    int fd = helper->open_file(files.path("tlsfront.toml"));
    CHECK(fd >= 0);
    if (fd >= 0) ::close(fd);
    fd = helper->open_file(files.path("cert.pem"));
    CHECK(fd >= 0);
    if (fd >= 0) ::close(fd);
    CHECK(helper->open_file(files.path("alt.pem")) == -EPERM);  // exists, but the config does not name it
    CHECK(helper->open_file("/etc/shadow") == -EPERM);
    CHECK(helper->open_file(files.path("nonexistent.pem")) == -EPERM);

    auto address = parse_socket_address("127.0.0.1:" + std::to_string(port), false, true).address;
    auto other = parse_socket_address("127.0.0.1:" + std::to_string(other_port), false, true).address;
    UniqueFd listener = helper->open_listener(*address);
    CHECK(listener);
    CHECK_THROWS_WITH_AS(helper->open_listener(*other), doctest::Contains("not in the config"), ListenError);

    // The config on disk changes: after a refresh the helper follows it.
    files.write("tlsfront.toml", config_naming(files, "alt.pem", other_port));
    CHECK(helper->open_file(files.path("alt.pem")) == -EPERM);
    helper->refresh();
    fd = helper->open_file(files.path("alt.pem"));
    CHECK(fd >= 0);
    if (fd >= 0) ::close(fd);
    CHECK(helper->open_file(files.path("cert.pem")) == -EPERM);
    CHECK(helper->open_listener(*other));
}
