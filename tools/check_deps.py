#!/usr/bin/env python3
"""Checks exo's module graph: every module's includes against the dependencies it declares.

    python3 tools/check_deps.py [ROOT]              check the tree at ROOT (default: this repo)
    python3 tools/check_deps.py --self-test [ROOT]  show that the check catches what it must

A module is modules/<m>/, declared in modules/<m>/CMakeLists.txt by exo_add_module(<m> ...
DEPENDS a b ...). The check fails, naming the file and line, on:
  - an include of another module's header (<exo/x/...>, or <exo/x.hpp>) when x is not among the
    module's declared dependencies;
  - a declared dependency that is not in the graph of DESIGN.md section 3 (the `arrows` below,
    and what they lead to): a dependency upwards or sideways, such as rpc on boot;
  - a declared dependency that no file of the module includes (a dependency never used);
  - a module including another module's internal header (its src/), or a public header
    including an internal one;
  - a container plugin (plugins/<p>/) including anything but the plugin ABI (exo/plugin/abi.h),
    core (canonical values) and the runner;
  - a cycle among the declared dependencies.
It exits 0 and says what it checked when the graph holds, 1 otherwise.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

# DESIGN.md section 3: the arrows (a module may also use what its arrows lead to, and core).
arrows = {
    "core": [],
    "message": ["core"],
    "port": ["core", "message"],
    "scheduler": ["core", "message"],
    "store": ["core"],
    "call_log": ["core"],
    "runner": ["core"],
    "container": ["core", "message", "port", "runner"],
    "hypervisor": ["core", "message", "port", "scheduler", "store", "call_log", "runner", "container"],
    "verifier": ["hypervisor", "call_log", "store"],
    "boot": ["hypervisor", "container", "verifier"],
    "rpc": ["hypervisor", "call_log"],
    "cluster": ["hypervisor", "call_log"],
}
# What a plugin may include: the C ABI, core's value encoding, and the runner (where a
# container runs its engine: this thread, a worker, a child process; DESIGN.md section 7),
# both linked in statically. Never the kernel or the hypervisor.
plugin_allowed = {"plugin-abi", "core", "runner"}

include_re = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def allowed(module):
    """Every module `module` may depend on: its arrows, transitively, and core."""
    seen, todo = set(), list(arrows.get(module, []))
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo += arrows.get(m, [])
    return seen | ({"core"} if module != "core" else set())


def declared_deps(cmake_file):
    """The module name and DEPENDS of the exo_add_module call in a CMakeLists.txt."""
    text = open(cmake_file).read()
    m = re.search(r"exo_add_module\(\s*(\w+)(.*?)\)", text, re.S)
    if not m:
        return None, []
    name, args = m.group(1), m.group(2).split()
    deps, on = [], False
    for a in args:
        if a in ("SOURCES", "LIBS", "DEPENDS"):
            on = a == "DEPENDS"
        elif on:
            deps.append(a)
    return name, deps


def owner(include, root, modules):
    """The module that owns <include>, 'plugin-abi', 'umbrella', or None (not exo's)."""
    if not include.startswith("exo/"):
        return None
    if include in ("exo/plugin/abi.h", "exo/plugin/errors.hpp"):
        return "plugin-abi"
    if include in ("exo/exo.hpp", "exo/fwd.hpp"):
        return "umbrella"
    for m in modules:
        if os.path.exists(os.path.join(root, "modules", m, "include", include)):
            return m
    parts = include.split("/")
    return parts[1] if len(parts) > 2 else os.path.splitext(parts[1])[0]


def sources(directory):
    for dirpath, _, files in os.walk(directory):
        for f in sorted(files):
            if f.endswith((".hpp", ".cpp", ".h", ".c")):
                yield os.path.join(dirpath, f)


def check(root):
    problems, checked = [], 0
    mod_dir = os.path.join(root, "modules")
    modules = sorted(d for d in os.listdir(mod_dir) if os.path.isfile(os.path.join(mod_dir, d, "CMakeLists.txt")))
    declared = {}
    for m in modules:
        name, deps = declared_deps(os.path.join(mod_dir, m, "CMakeLists.txt"))
        if name != m:
            problems.append(f"modules/{m}/CMakeLists.txt: declares module '{name}', not '{m}'")
        declared[m] = deps
        if m not in arrows:
            problems.append(f"modules/{m}: not a module of DESIGN.md section 3 (add it there, and to this script)")
            continue
        for d in deps:
            if d not in modules:
                problems.append(f"modules/{m}/CMakeLists.txt: DEPENDS {d}, which is not a module")
            elif d not in allowed(m):
                problems.append(f"modules/{m}/CMakeLists.txt: DEPENDS {d}, which DESIGN.md section 3 does not allow "
                                f"({m} may depend on {', '.join(sorted(allowed(m))) or 'nothing'})")

    for m in modules:
        used = set()
        base = os.path.join(mod_dir, m)
        for path in sources(base):
            rel = os.path.relpath(path, root)
            public = os.sep + "include" + os.sep in path
            for n, line in enumerate(open(path, errors="replace"), 1):
                match = include_re.match(line)
                if not match:
                    continue
                checked += 1
                kind, inc = match.groups()
                if kind == '"':
                    target = os.path.normpath(os.path.join(os.path.dirname(path), inc))
                    if not target.startswith(os.path.join(base, "src")) and not target.startswith(os.path.join(base, "include")):
                        problems.append(f"{rel}:{n}: includes \"{inc}\", a file of another module")
                    elif public and target.startswith(os.path.join(base, "src")):
                        problems.append(f"{rel}:{n}: a public header includes the internal header \"{inc}\"")
                    continue
                o = owner(inc, root, modules)
                if o is None or o == m:
                    continue
                if o == "umbrella":
                    problems.append(f"{rel}:{n}: includes <{inc}>, the umbrella of every module; include what it uses")
                    continue
                if o == "plugin-abi":
                    if m != "container":
                        problems.append(f"{rel}:{n}: includes <{inc}>; only the container module speaks the plugin ABI")
                    continue
                used.add(o)
                if o not in declared[m]:
                    problems.append(f"{rel}:{n}: includes <{inc}> of module {o}, which modules/{m}/CMakeLists.txt "
                                    f"does not declare (DEPENDS)")
        for d in declared[m]:
            if d not in used:
                problems.append(f"modules/{m}/CMakeLists.txt: DEPENDS {d}, but no file of {m} includes it")

    # Cycles among the declared dependencies.
    state = {}

    def visit(m, path):
        state[m] = "open"
        for d in declared.get(m, []):
            if state.get(d) == "open":
                problems.append("a dependency cycle: " + " -> ".join(path + [m, d]))
            elif d not in state:
                visit(d, path + [m])
        state[m] = "done"

    for m in modules:
        if m not in state:
            visit(m, [])

    plug_dir = os.path.join(root, "plugins")
    if os.path.isdir(plug_dir):
        for path in sources(plug_dir):
            rel = os.path.relpath(path, root)
            for n, line in enumerate(open(path, errors="replace"), 1):
                match = include_re.match(line)
                if not match or match.group(1) != "<":
                    continue
                checked += 1
                o = owner(match.group(2), root, modules)
                if o is not None and o not in plugin_allowed:
                    problems.append(f"{rel}:{n}: a plugin includes <{match.group(2)}>; plugins see only the plugin ABI "
                                    f"(exo/plugin/abi.h), core and the runner")
    return problems, len(modules), checked


def main_check(root):
    problems, nmod, nincl = check(root)
    if problems:
        print(f"module graph: {len(problems)} problem(s):")
        for p in problems:
            print("  " + p)
        return 1
    print(f"module graph OK: {nmod} modules, {nincl} includes checked against their declared dependencies "
          f"and DESIGN.md section 3")
    return 0


def self_test(root):
    """The check passes on the tree, and fails on each planted fault, in a copy of the tree."""
    failures = []
    problems, _, _ = check(root)
    if problems:
        failures.append("the check does not pass on the tree itself: " + problems[0])
    plants = [
        ("rpc includes boot", "modules/rpc/src/server.cpp", "#include <exo/boot/node.hpp>\n", None,
         "does not declare"),
        ("a declared dependency never used", "modules/scheduler/CMakeLists.txt", None,
         ("DEPENDS message", "DEPENDS message store"), "no file of scheduler includes it"),
        ("a dependency DESIGN.md forbids", "modules/store/CMakeLists.txt", None, ("DEPENDS core", "DEPENDS core hypervisor"),
         "does not allow"),
        ("a plugin includes the kernel", "plugins/wasm/plugin.cpp", "#include <exo/hypervisor/kernel.hpp>\n", None,
         "plugins see only"),
        ("another module's internal header", "modules/boot/src/node.cpp", '#include "../../hypervisor/src/records.hpp"\n',
         None, "a file of another module"),
    ]
    for what, rel, prepend, replace, expect in plants:
        with tempfile.TemporaryDirectory() as tmp:
            for d in ("modules", "plugins"):
                shutil.copytree(os.path.join(root, d), os.path.join(tmp, d))
            path = os.path.join(tmp, rel)
            text = open(path).read()
            if prepend:
                text = prepend + text
            if replace:
                if replace[0] not in text:
                    failures.append(f"{what}: cannot plant it ({replace[0]!r} is not in {rel})")
                    continue
                text = text.replace(replace[0], replace[1], 1)
            open(path, "w").write(text)
            out = subprocess.run([sys.executable, os.path.abspath(__file__), tmp], capture_output=True, text=True)
            if out.returncode == 0 or expect not in out.stdout:
                failures.append(f"{what}: the check did not catch it (exit {out.returncode}):\n{out.stdout}")
            else:
                print(f"caught {what}: {[l.strip() for l in out.stdout.splitlines() if expect in l][0]}")
    if failures:
        for f in failures:
            print("SELF-TEST FAILED: " + f)
        return 1
    print("self-test OK: the check passes on the tree and catches every planted fault")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    selftest = "--self-test" in args
    args = [a for a in args if a != "--self-test"]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    sys.exit(self_test(root) if selftest else main_check(root))
