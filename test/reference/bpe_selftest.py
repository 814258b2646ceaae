"""Checks of train_bpe.py and byte_level_bpe.py that can fail: run selftest.py bpe."""
import os
from collections import Counter

from byte_level_bpe import BYTE_TO_CHAR, from_byte_chars, pretokenize, to_byte_chars
from selftest_common import Checks
import train_bpe

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "corpus")


def naive_merges(counts, n_merges, min_frequency):
    """Recounts every pair from scratch before each merge: slow, obviously right."""
    words = {w: list(w) for w in counts}
    merges = []
    while len(merges) < n_merges:
        pairs = Counter()
        for w, symbols in words.items():
            for p in zip(symbols, symbols[1:]):
                pairs[p] += counts[w]
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < min_frequency:
            break
        merges.append(best)
        for w, s in words.items():
            out, k = [], 0
            while k < len(s):
                if k + 1 < len(s) and (s[k], s[k + 1]) == best:
                    out.append(s[k] + s[k + 1])
                    k += 2
                else:
                    out.append(s[k])
                    k += 1
            words[w] = out
    return merges


def selftest():
    ch = Checks("byte-level BPE")
    text = "Hello world!  It's  2024\n\nok ''s  \tx"
    # What JavaScript's "...".match(GPT-2 pattern with the u flag) returns for the same text.
    want = ["Hello", " world", "!", " ", " It", "'s", " ", " 2024", "\n", "\n", "ok", " ''", "s", "  ", "\t", "x"]
    got = pretokenize(text)
    ch.check("GPT-2 pattern: contractions, optional leading space, whitespace runs giving their last space away", got == want, f"{got}")
    ch.check("256 distinct byte characters, printable, none a space", len(set(BYTE_TO_CHAR.values())) == 256 and not any(c.isspace() for c in BYTE_TO_CHAR.values()))
    sample = "日本語 — “x” 🐉"
    ch.check("byte characters round-trip any UTF-8", from_byte_chars(to_byte_chars(sample)) == sample)

    d = ch.scratch()
    path = os.path.join(d, "sample.txt")
    with open(os.path.join(CORPUS, "grimm", "train.txt"), encoding="utf-8") as f, open(path, "w", encoding="utf-8") as out:
        out.writelines(f.readlines()[:300])
    counts = train_bpe.count_words([path])
    with open(os.devnull, "w") as quiet:
        vocab, merges = train_bpe.train([path], 256 + 5 + 200, 2, progress=quiet)
    naive = naive_merges(counts, 200, 2)
    first = next((i for i, (a, b) in enumerate(zip(merges, naive)) if a != b), None)
    ch.check("incremental trainer = recount-everything trainer, merge for merge", merges == naive, f"{len(merges)} merges" + (f", first difference at {first}" if first is not None else ""))
    train_bpe.write_all(d, vocab, merges, 128)
    bpe = train_bpe.load(d)
    lines = open(path, encoding="utf-8").read().splitlines()
    ok = all(bpe.decode(bpe.encode(line)) == line for line in lines)
    ch.check("encode then decode gives every training line back", ok, f"{len(lines)} lines")
    ids = bpe.encode("a <unk> b  <mask> c")
    inv = {i: t for t, i in vocab.items()}
    ch.check("special tokens in text: <unk> keeps the space before it, lstrip <mask> takes it", [inv[i] for i in ids] == ["a", "Ġ", "<unk>", "Ġb", "<mask>", "Ġc"], f"{[inv[i] for i in ids]}")
    return ch.done()


if __name__ == "__main__":
    raise SystemExit(0 if selftest() else 1)
