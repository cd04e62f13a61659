"""seccomp_exec.py ALLOW_FILE -- PROGRAM ARGS...: exec PROGRAM under a
seccomp filter like the unit's SystemCallFilter= and
RestrictAddressFamilies= (libseccomp's Python binding, Debian's
python3-seccomp): the syscalls listed in ALLOW_FILE (one a line) are
allowed, every other one fails with EPERM (SystemCallErrorNumber=EPERM),
and socket() only for AF_UNIX, AF_INET, AF_INET6.  Run by Debian's
/usr/bin/python3, which finds the binding, from test_ops.py."""
import errno
import os
import socket
import sys

import seccomp

allow_file, rest = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(errno.EPERM))
with open(allow_file) as fh:
    for name in fh.read().split():
        if name == "socket":
            continue
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError, OSError):
            pass  # not a syscall on this architecture
for family in (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6):
    f.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, family))
f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
           seccomp.Arg(0, seccomp.GT, socket.AF_INET6))
f.load()
os.execv(rest[0], rest)
