#!/usr/bin/env python3
"""Run a command; report its wall time and peak RSS.

    measure.py RESULT CMD [ARG...]

Writes "SECONDS MAX_RSS_KB CPU_SECONDS" (wall time, peak RSS, user + system
time of all its threads) to the file RESULT and exits with the command's
status. The figures are the kernel's (wait4's rusage) for that one child, so
it needs no GNU time and counts nothing of this wrapper.
"""
import os
import sys
import time


def main():
    result, argv = sys.argv[1], sys.argv[2:]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as e:
            print(f"measure.py: cannot run {argv[0]}: {e.strerror}", file=sys.stderr)
        os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.monotonic() - t0
    with open(result, "w") as f:
        f.write(f"{seconds:.3f} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime:.3f}\n")
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)     # killed by signal N: 128 + N, as the shell says


if __name__ == "__main__":
    main()
