// setgroups + setgid + setuid, in that order (the group calls need root), then a check.
#include "proxy/daemon/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tlsfront {
namespace {

[[noreturn]] void fail(const std::string& step) {
    throw PrivilegeError("cannot drop privileges: " + step + ": " + std::strerror(errno));
}

}  // namespace

void drop_privileges(const std::string& user, const std::string& group) {
    if (user.empty() && group.empty()) return;
    const passwd* account = user.empty() ? nullptr : getpwnam(user.c_str());
    if (!user.empty() && !account) throw PrivilegeError("unknown user '" + user + "'");
    gid_t gid = account ? account->pw_gid : getgid();
    if (!group.empty()) {
        const struct group* entry = getgrnam(group.c_str());
        if (!entry) throw PrivilegeError("unknown group '" + group + "'");
        gid = entry->gr_gid;
    }
    if (setgroups(1, &gid) < 0) fail("setgroups");
    if (setgid(gid) < 0) fail("setgid");
    if (account && setuid(account->pw_uid) < 0) fail("setuid " + user);
    if (account && account->pw_uid != 0 && setuid(0) == 0) throw PrivilegeError("could regain root after setuid");
}

}  // namespace tlsfront
