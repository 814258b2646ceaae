"""Runs every reference's self-test: `/usr/bin/python3 test/reference/selftest.py [family ...]`.

Families: distilbert, roberta, modernbert, bert_cls, and bpe (the byte-level BPE trainer). Exit status 0 only when every check passes.
Needs torch (Debian's python3-torch); one thread, so it shares a machine politely.
"""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

FAMILIES = ("distilbert", "roberta", "modernbert", "bert_cls", "bpe")


def main(argv):
    import torch

    torch.set_num_threads(1)
    chosen = argv or list(FAMILIES)
    unknown = [f for f in chosen if f not in FAMILIES]
    if unknown:
        print(f"unknown famil{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; known: {', '.join(FAMILIES)}", file=sys.stderr)
        return 2
    results = {f: importlib.import_module(f"{f}_selftest").selftest() for f in chosen}
    print("# summary: " + ", ".join(f"{f} {'passed' if ok else 'FAILED'}" for f, ok in results.items()))
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
