#!/usr/bin/env python3
"""Mutation testing for ferry: do the tests catch a careless one-line change?

    make mutate                         every mutant in tests/tools/mutants.txt
    MUTATE_ONLY=ratelimit make mutate   those whose id or file contains the text
                                        (several texts: separate them with commas)
    python3 tests/tools/mutate.py [--list] [--only TEXT] [--keep] [--timeout S]

Each mutant (see mutants.txt for the format) replaces one exact snippet of
one source file. The snippet must occur exactly once in that file, or the
whole run stops before testing anything: the list stays honest as the code
moves. All mutants are applied in a scratch copy of the tree (the working
tree is never touched, even on Ctrl-C), one at a time: build with `make`,
run the mapped test files with tests/run.sh (ONLY=...), revert. A mutant is
KILLED by the first test file that fails, KILLED by the compiler when the
build fails (counted, and said), or SURVIVED. Mutants marked `equivalent:`
change no behaviour; they are applied (so their snippet stays checked) but
not run, and do not count. The closing line gives the score; the exit
status is 1 when it is below MUTATE_MIN percent (default 90).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIST = os.path.join(ROOT, "tests", "tools", "mutants.txt")


class Mutant:
    def __init__(self, line):
        self.line = line            # where it starts in mutants.txt
        self.id = self.file = self.find = self.replace = None
        self.tests = []
        self.equivalent = None
        self.why = ""


def unescape(s):
    return s.replace("\\n", "\n").replace("\\t", "\t")


def parse(path):
    """Blocks of `key: value` lines separated by blank lines; '#' starts a comment line."""
    mutants, cur = [], None
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if line.startswith("#"):
                continue
            if not line.strip():
                if cur:
                    mutants.append(cur)
                cur = None
                continue
            m = re.match(r"^(id|file|find|replace|tests|equivalent|why):(?: (.*))?$", line)
            if not m:
                sys.exit(f"{path}:{n}: expected 'KEY: value' (id, file, find, replace, tests, equivalent, why)")
            cur = cur or Mutant(n)
            key, val = m.group(1), m.group(2) or ""
            if key == "tests":
                cur.tests = val.split()
            elif key in ("find", "replace"):
                setattr(cur, key, unescape(val))
            else:
                setattr(cur, key, val)
    if cur:
        mutants.append(cur)
    ids = set()
    for m in mutants:
        where = f"{path}:{m.line}"
        for key in ("id", "file", "find"):
            if not getattr(m, key):
                sys.exit(f"{where}: mutant without '{key}'")
        if m.replace is None:
            sys.exit(f"{where}: mutant {m.id} without 'replace' (write 'replace:' for an empty one)")
        if not m.tests and not m.equivalent:
            sys.exit(f"{where}: mutant {m.id} names no tests")
        if m.id in ids:
            sys.exit(f"{where}: mutant id {m.id} used twice")
        ids.add(m.id)
    return mutants


def check(mutants, tree):
    """Every snippet occurs exactly once in its file; returns {id: line number}."""
    bad, lines = [], {}
    for m in mutants:
        p = os.path.join(tree, m.file)
        try:
            src = open(p, encoding="utf-8").read()
        except OSError as e:
            bad.append(f"{m.id}: {m.file}: {e.strerror}")
            continue
        k = src.count(m.find)
        if k != 1:
            bad.append(f"{m.id}: the snippet occurs {k} times in {m.file} (must be once): {m.find!r}")
            continue
        if m.find == m.replace:
            bad.append(f"{m.id}: replace is the same as find")
        lines[m.id] = src[: src.index(m.find)].count("\n") + 1
    if bad:
        sys.exit("mutate: the mutant list does not match the code:\n  " + "\n  ".join(bad))
    return lines


def scratch_copy():
    """A copy of the working tree (tracked and untracked files, not ignored
    ones) plus build/, with times kept so make rebuilds only what a mutant
    changes."""
    tmp = tempfile.mkdtemp(prefix="ferry-mutate.")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for f in files:
        if not f or not os.path.isfile(os.path.join(ROOT, f)):
            continue
        dst = os.path.join(tmp, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, f), dst)
    if os.path.isdir(os.path.join(ROOT, "build")):
        shutil.copytree(os.path.join(ROOT, "build"), os.path.join(tmp, "build"), symlinks=True,
                        ignore=shutil.ignore_patterns("bench"))
    return tmp


def stop(p):
    """Stop p's process group: TERM first, which tests/run.sh passes on to
    the test it runs (that test runs in a process group of its own, with
    its fake servers), then KILL what is left after 15 s."""
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(cmd, cwd, env=None, timeout=None):
    """(returncode or 'timeout', output). The command runs in a process
    group of its own, stopped (stop) on a timeout or an interrupt."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        stop(p)
        out, _ = p.communicate()
        return "timeout", out.decode(errors="replace")
    except BaseException:
        stop(p)
        p.communicate()
        raise


def test_env(tree, spec):
    """A test spec: a tests/run.sh ONLY pattern (test_run.sh, test_json.lua,
    test_csv), or http:CASE[,CASE] for tests/e2e/test_http.sh's case files."""
    env = dict(os.environ, FERRY="build/ferry", UNIT_DIR="build/tests", SANITIZE="")
    env.pop("FERRY_CONFIG", None)
    env.pop("MAKEFLAGS", None)
    env.pop("MAKELEVEL", None)
    if spec.startswith("http:"):
        env["ONLY"] = "tests/e2e/test_http.sh"
        env["HTTP_CASES"] = spec[5:].replace(",", " ")
    else:
        env["ONLY"] = spec
    return env


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main():
    signal.signal(signal.SIGTERM, interrupted)     # clean up the scratch copy as on Ctrl-C
    signal.signal(signal.SIGHUP, interrupted)
    args = sys.argv[1:]
    only = os.environ.get("MUTATE_ONLY", "")
    keep = "--keep" in args
    timeout = float(os.environ.get("MUTATE_TIMEOUT", "600"))
    if "--only" in args:
        only = args[args.index("--only") + 1]
    if "--timeout" in args:
        timeout = float(args[args.index("--timeout") + 1])
    minimum = float(os.environ.get("MUTATE_MIN", "90"))
    mutants = parse(LIST)
    lines = check(mutants, ROOT)
    pats = [p for p in only.split(",") if p] or [""]
    chosen = [m for m in mutants if any(p in m.id or p in m.file for p in pats)]
    if "--list" in args:
        for m in chosen:
            print(f"{m.id:32} {m.file}:{lines[m.id]}  tests: {' '.join(m.tests) or '-'}"
                  + (f"  (equivalent: {m.equivalent})" if m.equivalent else ""))
        return 0
    if not chosen:
        sys.exit(f"mutate: no mutant matches '{only}'")

    t0 = time.time()
    tree = scratch_copy()
    print(f"mutate: {len(chosen)} mutants, scratch copy {tree}", flush=True)
    killed = by_compiler = survived = equivalent = 0
    survivors = []
    try:
        rc, out = run(["make", "-j2", "all", "unit"], tree, timeout=900)
        if rc != 0:
            sys.exit("mutate: the unmutated tree does not build:\n" + out[-3000:])
        for i, m in enumerate(chosen, 1):
            path = os.path.join(tree, m.file)
            orig = open(path, encoding="utf-8").read()
            where = f"{m.file}:{lines[m.id]}"
            label = f"[{i:2}/{len(chosen)}] {m.id:32} {where:32}"
            t1 = time.time()
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(orig.replace(m.find, m.replace, 1))
                if m.equivalent:
                    equivalent += 1
                    print(f"{label} EQUIVALENT (not run): {m.equivalent}", flush=True)
                    continue
                rc, out = run(["make", "-j2", "all", "unit"], tree, timeout=900)
                if rc != 0:
                    killed += 1
                    by_compiler += 1
                    err = next((l for l in out.splitlines() if "error" in l), out.strip().splitlines()[-1:])
                    print(f"{label} KILLED by the compiler ({str(err).strip()[:100]})", flush=True)
                    continue
                verdict = None
                for spec in m.tests:
                    rc, out = run(["bash", "tests/run.sh"], tree, env=test_env(tree, spec), timeout=timeout)
                    if rc == "timeout":
                        verdict = f"KILLED by {spec} (timed out after {timeout:.0f} s)"
                    elif rc != 0:
                        first = next((l.strip() for l in out.splitlines()
                                      if l.strip().startswith(("[", "not ok", "FAIL")) or "not ok" in l), "")
                        verdict = f"KILLED by {spec}" + (f": {first[:110]}" if first else "")
                    elif re.search(r"^0 passed, 0 failed", out, re.M):
                        sys.exit(f"mutate: {m.id}: test spec '{spec}' matches no test file")
                    if verdict:
                        break
                took = time.time() - t1
                if verdict:
                    killed += 1
                    print(f"{label} {verdict} ({took:.0f} s)", flush=True)
                else:
                    survived += 1
                    survivors.append(m)
                    print(f"{label} SURVIVED {' '.join(m.tests)} ({took:.0f} s)", flush=True)
            finally:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(orig)
    except KeyboardInterrupt:
        print("\nmutate: interrupted", flush=True)
        return 130
    finally:
        if keep:
            print(f"mutate: scratch copy kept in {tree}")
        else:
            shutil.rmtree(tree, ignore_errors=True)

    counted = killed + survived
    score = 100.0 * killed / counted if counted else 100.0
    mins = (time.time() - t0) / 60
    if survivors:
        print("survivors (add a test, or mark the mutant 'equivalent: why' in mutants.txt):")
        for m in survivors:
            print(f"  {m.id}: {m.file}:{lines[m.id]}: {m.find.strip()!r} -> {m.replace.strip()!r}")
    print(f"mutation score: {killed} of {counted} killed ({score:.1f}%), {by_compiler} of them by the compiler; "
          f"{survived} survived; {equivalent} equivalent, not counted; {mins:.1f} min")
    return 0 if score >= minimum else 1


if __name__ == "__main__":
    sys.exit(main())
