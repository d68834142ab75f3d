#!/usr/bin/env python3
"""Builds the test suites' shared precompiled header.

A precompiled header is only used when it was compiled with the same flags
as the file that includes it, so this takes the compile command of one
suite from the build's compile_commands.json (written by meson setup) and
compiles the header with it. With -Winvalid-pch and -Werror (which the build
uses) a header built with other flags is an error, never a silent slowdown.

usage: make_pch.py HEADER OUT_HEADER OUT_GCH OUT_STAMP DEPFILE COMPILE_COMMANDS REFERENCE_SOURCE [flags...]
OUT_STAMP is rewritten at every build of the header: the suites include it
after the precompiled header and read it, so their dependency lists name it
(they name none of the headers inside the precompiled one).
(the trailing flags are not used: they are there so that a change of the
build's options changes this command, and ninja builds the header again)
"""
import json
import os
import shlex
import shutil
import subprocess
import sys


def main() -> int:
    header, out_header, out_gch, out_stamp, depfile, commands_path, reference = sys.argv[1:8]
    with open(commands_path, encoding="utf-8") as f:
        entries = json.load(f)
    ref = [e for e in entries if e["file"].replace("\\", "/").endswith("/" + reference)]
    if not ref:
        print(f"make_pch: no compile command for {reference} in {commands_path}", file=sys.stderr)
        return 1
    entry = ref[0]
    argv = entry["arguments"] if "arguments" in entry else shlex.split(entry["command"])
    cmd, skip = [], 0
    for i, a in enumerate(argv):
        if skip:
            skip -= 1
            continue
        if a in ("-o", "-MQ", "-MF", "-MT", "-c", "-include"):
            skip = 1
            continue
        if a == "-MD" or a == "-MMD":
            continue
        cmd.append(a)
    shutil.copyfile(header, out_header)
    # Paths as ninja names them (it runs this from the build directory, as
    # the compile commands are), so the depfile names the outputs it knows.
    here = os.getcwd()
    cmd += ["-x", "c++-header", os.path.join(here, out_header), "-o", os.path.join(here, out_gch),
            "-MD", "-MF", os.path.join(here, depfile), "-MQ", out_header, "-MQ", out_gch]
    rc = subprocess.call(cmd, cwd=entry["directory"])
    if rc == 0:
        with open(out_stamp, "w", encoding="utf-8") as f:
            f.write(f"// Rewritten with {os.path.basename(out_gch)} (tests/support/make_pch.py); empty on purpose.\n"
                    f"// {os.stat(out_gch).st_mtime_ns}\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
