#!/usr/bin/env python3
"""The graph of src/'s top-level modules (who names `crate::X`), and its cycles.

Run from the repository root: prints each module's dependencies and exits 1
if two modules reach each other. A module's own tests (`tests.rs`, `*_tests.rs`,
`#[cfg(test)]` blocks) do not count: a test may reach anywhere.
"""
import pathlib
import re
import sys

src = pathlib.Path("src")
modules = sorted({p.stem if p.is_file() else p.name for p in src.iterdir() if p.name not in ("lib.rs", "main.rs")})
edges = {m: set() for m in modules}
for path in src.rglob("*.rs"):
    if path.name in ("lib.rs", "main.rs") and path.parent == src:
        continue
    rel = path.relative_to(src)
    owner = rel.parts[0].removesuffix(".rs")
    if path.name == "tests.rs" or path.name.endswith("_tests.rs") or "tests" in rel.parts[1:-1]:
        continue
    text = path.read_text()
    text = text.split("#[cfg(test)]")[0]  # test blocks close a file in this codebase
    for target in re.findall(r"crate::([a-z_]+)", text):
        if target in edges and target != owner:
            edges[owner].add(target)

def reaches(a, b, seen=None):
    seen = seen or set()
    for n in edges[a]:
        if n == b:
            return True
        if n not in seen:
            seen.add(n)
            if reaches(n, b, seen):
                return True
    return False

cycles = sorted({tuple(sorted((a, b))) for a in modules for b in edges[a] if reaches(b, a)})
for m in modules:
    print(f"{m:14} -> {', '.join(sorted(edges[m])) or '(nothing)'}")
if cycles:
    print("cycles:", "; ".join(f"{a} <-> {b}" for a, b in cycles))
    sys.exit(1)
print("no cycles")
