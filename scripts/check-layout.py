#!/usr/bin/env python3
"""Checks the source tree's shape; run by scripts/test.sh before the build and by ctest
(test `check_layout`). Standard library only.

1. Layer table: a file in src/<layer>/ or include/tomograd/<layer>/ includes only the tomograd
   layers its layer may use. The table is read from docs/architecture.md (the rows of its
   "Layers" table, column "may include"), so the documented table is the checked one.
2. Sizes: no file in src/ over MAX_FILE_LINES lines; no function in src/, include/ or apps/
   over MAX_FUNCTION_LINES lines (from the first line of its signature to its closing brace).
   Function bodies are found by brace matching on the source with comments, strings and
   preprocessor lines blanked out: a heuristic, good for this code base's style.

Usage: scripts/check-layout.py [--root DIR] [--list]
  --list   print every function over the limit and every file over the limit, allowed or not,
           and the allow-list entries that are no longer needed.
Exit status 0 when clean, 1 with one line per offence.
"""
import argparse
import os
import re
import sys

MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 80

# Offenders known when the check was introduced (issue 16), being split by other changes. An
# entry here is a debt, not a permission: remove it as soon as the file or function is under the
# limit (`--list` names the entries that are no longer needed; they make the check fail too, so
# the list only shrinks). Files: path relative to the root. Functions: "path:name".
ALLOWED_LARGE_FILES = set([
])
ALLOWED_LONG_FUNCTIONS = set([
])

LAYER_TABLE_DOC = "docs/architecture.md"
CHECKED_DIRS = ("src", "include", "apps")
SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cc", ".hpp.in")


def read_layer_table(root):
    """{layer: set(layers it may include)} from the Layers table in docs/architecture.md.

    A row looks like: | `tomograd::io` | `src/io` | core | ... |  (third column: the tomograd
    layers it may include, comma-separated, or "-" for none)."""
    path = os.path.join(root, LAYER_TABLE_DOC)
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`tomograd::(\w+)`\s*\|\s*`src/[\w/{},]+`\s*\|([^|]*)\|", line)
            if not m:
                continue
            deps = {d.strip(" `") for d in m.group(2).split(",")}
            table[m.group(1)] = {d for d in deps if d and d != "-"}
    if not table:
        sys.exit(f"check-layout: no layer table rows found in {path}")
    for layer, deps in table.items():
        unknown = deps - set(table)
        if unknown:
            sys.exit(f"check-layout: {path}: layer '{layer}' names unknown layers {sorted(unknown)}")
    return table


def source_files(root, top):
    base = os.path.join(root, top)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.relpath(os.path.join(dirpath, name), root)


INCLUDE_RE = re.compile(r'^\s*#\s*include\s*[<"](?:\.\./)*(?:tomograd/)?(\w+)/', re.M)


def layer_of(rel):
    parts = rel.split(os.sep)
    if parts[0] == "src" and len(parts) > 2:
        return parts[1]
    if parts[:2] == ["include", "tomograd"] and len(parts) > 3:
        return parts[2]
    return None


def check_layers(root, table):
    errors = []
    for top in ("src", os.path.join("include", "tomograd")):
        for rel in source_files(root, top):
            layer = layer_of(rel)
            if layer is None or layer not in table:
                continue
            allowed = table[layer] | {layer}
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                text = f.read()
            for m in INCLUDE_RE.finditer(text):
                used = m.group(1)
                line = text.count("\n", 0, m.start()) + 1
                if used in table and used not in allowed:
                    errors.append(f"{rel}:{line}: layer '{layer}' may not include layer '{used}' "
                                  f"(it may include: {', '.join(sorted(table[layer])) or 'no other layer'}; "
                                  f"see {LAYER_TABLE_DOC})")
    return errors


def blank_non_code(text):
    """The text with comments, string/char literals and preprocessor lines replaced by spaces
    (newlines kept, so offsets map to the same lines)."""
    out = list(text)
    i, n = 0, len(text)
    line_start = True

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if line_start and c == "#":
            j = i
            while j < n and not (text[j] == "\n" and text[j - 1] != "\\"):
                j += 1
            blank(i, j)
            i = j
            continue
        if c == "\n":
            line_start = True
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        line_start = False
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            blank(i, j)
            i = j
        elif c == '"' and i > 0 and text[i - 1] == "R" :
            m = re.compile(r'"([^(\s]*)\(').match(text, i)
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            blank(i, j)
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator 1'000
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            blank(i, min(j + 1, n))
            i = j + 1
        else:
            i += 1
    return "".join(out)


CONTAINER_RE = re.compile(r"^(?:template\s*<.*>\s*)?(?:namespace\b|extern\s*(?:\"\")?\s*$|"
                          r"(?:class|struct|union)\b[^(]*$)", re.S)
ENUM_RE = re.compile(r"^(?:typedef\s+)?enum\b")
CTOR_INIT_RE = re.compile(r"\)\s*(?:noexcept\s*)?:(?!:)")
QUALIFIERS = {"const", "override", "final", "noexcept", "mutable", "try", "volatile"}


def top_level_has_assignment(header):
    depth = 0
    for k, ch in enumerate(header):
        if ch in "([<":
            depth += 1
        elif ch in ")]>":
            depth = max(0, depth - 1)
        elif ch == "=" and depth == 0:
            prev, nxt = header[k - 1:k], header[k + 1:k + 2]
            if prev in "=!<>" or nxt == "=":
                continue
            if re.search(r"\boperator\s*$", header[:k]):
                continue
            return True
    return False


def function_name(header):
    head = header.split("(")[0] if "(" in header else header
    m = re.search(r"([~\w:]+(?:\s*operator\s*[^\s\w]+)?)\s*$", head)
    return m.group(1).split("::")[-1] if m else "?"


def long_functions(text, limit):
    """[(name, first_line, line_count)] of functions longer than @p limit lines."""
    code = blank_non_code(text)
    line_of = []
    line = 1
    for ch in code:
        line_of.append(line)
        if ch == "\n":
            line += 1
    found = []
    stack = []  # "container" | "other" | "function" | "init"
    header_start = 0
    i, n = 0, len(code)
    while i < n:
        ch = code[i]
        in_container = all(s == "container" for s in stack)
        if ch == "{":
            if not in_container:
                stack.append("inner")
                i += 1
                continue
            header = code[header_start:i].strip()
            kind = "other"
            if CONTAINER_RE.match(header):
                kind = "container"
            elif ENUM_RE.match(header) or top_level_has_assignment(header):
                kind = "other"
            elif "(" in header:
                last_word = re.search(r"(\w+|[>\]})])\s*$", header)
                tail = last_word.group(1) if last_word else ""
                if CTOR_INIT_RE.search(header) and (tail.endswith(">") or
                                                     (tail[:1].isalpha() or tail[:1] == "_") and
                                                     tail not in QUALIFIERS):
                    kind = "init"
                else:
                    kind = "function"
            if kind in ("function", "other", "init"):
                depth, j = 1, i + 1
                while j < n and depth:
                    if code[j] == "{":
                        depth += 1
                    elif code[j] == "}":
                        depth -= 1
                    j += 1
                if kind == "init":  # a member's brace initialiser: still in the header
                    i = j
                    continue
                if kind == "function":
                    start = header_start + (len(code[header_start:i]) - len(code[header_start:i].lstrip()))
                    lines = line_of[min(j - 1, n - 1)] - line_of[start] + 1
                    if lines > limit:
                        found.append((function_name(header), line_of[start], lines))
                i = j
                header_start = i
                continue
            stack.append("container")
            i += 1
            header_start = i
            continue
        if ch == "}":
            if stack:
                stack.pop()
            i += 1
            if all(s == "container" for s in stack):
                header_start = i
            continue
        if ch == ";" and in_container:
            header_start = i + 1
        i += 1
    return found


def check_sizes(root, show_all):
    errors, notes = [], []
    seen_files, seen_functions = set(), set()
    for top in CHECKED_DIRS:
        for rel in source_files(root, top):
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                text = f.read()
            posix = rel.replace(os.sep, "/")
            nlines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
            if top == "src" and nlines > MAX_FILE_LINES:
                seen_files.add(posix)
                msg = f"{posix}: {nlines} lines (limit {MAX_FILE_LINES})"
                if posix in ALLOWED_LARGE_FILES:
                    if show_all:
                        notes.append(msg + " [allow-listed]")
                else:
                    errors.append(msg)
            for name, first, count in long_functions(text, MAX_FUNCTION_LINES):
                key = f"{posix}:{name}"
                seen_functions.add(key)
                msg = f"{posix}:{first}: function '{name}' has {count} lines (limit {MAX_FUNCTION_LINES})"
                if key in ALLOWED_LONG_FUNCTIONS:
                    if show_all:
                        notes.append(msg + " [allow-listed]")
                else:
                    errors.append(msg)
    for stale in sorted(ALLOWED_LARGE_FILES - seen_files):
        errors.append(f"scripts/check-layout.py: '{stale}' is within the limit now: "
                      "remove it from ALLOWED_LARGE_FILES")
    for stale in sorted(ALLOWED_LONG_FUNCTIONS - seen_functions):
        errors.append(f"scripts/check-layout.py: '{stale}' is within the limit now (or gone): "
                      "remove it from ALLOWED_LONG_FUNCTIONS")
    return errors, notes


def check_test_names(root):
    """Catch2 test names without ';': catch_discover_tests splits a name at it, and ctest then runs
    a filter that matches no test and passes, so the test silently never runs."""
    errors = []
    for dirpath, _, files in os.walk(os.path.join(root, "tests")):
        for name in sorted(files):
            if not name.endswith(".cpp"):
                continue
            path = os.path.join(dirpath, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    m = re.search(r'TEST_CASE\(\s*"([^"]*)"', line)
                    if m and ";" in m.group(1):
                        rel = os.path.relpath(path, root)
                        errors.append(f"{rel}:{number}: test name contains ';' (ctest would never run it): {m.group(1)}")
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    parser.add_argument("--list", action="store_true", help="also list allow-listed offenders")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    table = read_layer_table(root)
    errors = check_layers(root, table)
    size_errors, notes = check_sizes(root, args.list)
    errors += size_errors
    errors += check_test_names(root)
    for line in notes:
        print(line)
    for line in errors:
        print(line, file=sys.stderr)
    if errors:
        print(f"check-layout: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print("check-layout: layer table, size limits and test names hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
