#!/usr/bin/env python3
"""Checks that a unit's SystemCallFilter= lets vaultd make every system call its own seccomp
allow-list (vault/hardening.cc) permits, so that the two filters never disagree: a call the
unit's filter denies would fail with EPERM in a vaultd that believes it may make it.

    syscall_filter_check.py UNIT_FILE HARDENING_CC

Groups are expanded with `systemd-analyze syscall-filter`. Prints the calls the unit denies and
exits 1 if any is not a known exception.
"""
import re
import subprocess
import sys

# In vaultd's list for running as root only: SQLite gives a recreated -wal/-shm the database's
# owner after asking geteuid(). The unit runs vaultd as escrow, where SQLite never calls it.
ROOT_ONLY = {"fchown"}
# Made before vaultd's own filter is in force (vault/hardening.cc, seen with strace): hardening,
# the mlock'ed secure heap, and installing the filter itself.
STARTUP = {"prctl", "prlimit64", "setrlimit", "mlock", "mlock2", "mlockall", "seccomp"}


def expand(name: str, seen: set) -> set:
    if not name.startswith("@"):
        return {name}
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", "--no-pager", name],
                         check=True, capture_output=True, text=True).stdout
    calls = set()
    for line in out.splitlines()[1:]:
        item = line.strip()
        if item and not item.startswith("#"):
            calls |= expand(item, seen)
    return calls


def unit_allows(unit_text: str) -> set:
    allowed = None
    for value in re.findall(r"^SystemCallFilter=(.*)$", unit_text, re.M):
        deny = value.startswith("~")
        names = set()
        for item in value.lstrip("~").split():
            names |= expand(item, set())
        if allowed is None:
            if deny:
                sys.exit("syscall_filter_check: the first SystemCallFilter= must be an allow-list")
            allowed = names
        elif deny:
            allowed -= names
        else:
            allowed |= names
    if allowed is None:
        sys.exit("syscall_filter_check: the unit has no SystemCallFilter=")
    return allowed


def vaultd_allows(source: str) -> set:
    block = re.search(r"kAllowed\[\] = \{(.*?)\n\};", source, re.S)
    names = set(re.findall(r'"([a-z0-9_]+)"', block.group(1)))
    names |= set(re.findall(r'AddRule\(c, SCMP_ACT_ALLOW, "([a-z0-9_]+)"', source))
    # for (const char* name : {"mmap", "mprotect"}) { ... AddRule(c, SCMP_ACT_ALLOW, name, ...
    loops = re.findall(r"for \(const char\* name : \{([^}]*)\}\) \{\s*ESCROW_RETURN_IF_ERROR\(\s*"
                       r"AddRule\(c, SCMP_ACT_ALLOW, name", source)
    for loop in loops:
        names |= set(re.findall(r'"([a-z0-9_]+)"', loop))
    if len(names) < 40:
        sys.exit(f"syscall_filter_check: found only {len(names)} calls in vaultd's list")
    return names


def main() -> None:
    unit_file, hardening_cc = sys.argv[1], sys.argv[2]
    with open(unit_file) as f:
        allowed = unit_allows(f.read())
    with open(hardening_cc) as f:
        wanted = vaultd_allows(f.read()) | STARTUP
    denied = sorted(wanted - allowed)
    unexpected = [c for c in denied if c not in ROOT_ONLY]
    print(f"vaultd's own list and start-up: {len(wanted)} calls; the unit denies {denied or 'none'}"
          f" ({', '.join(sorted(ROOT_ONLY))}: root only)")
    if unexpected:
        print(f"syscall_filter_check: the unit denies {unexpected}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
