"""Trains a RoBERTa-style byte-level BPE on text files and writes it in Hugging Face's formats.

    train_bpe.py train --vocab-size 4096 [--min-frequency 2] [--model-max-length 512] --out DIR FILE...
    train_bpe.py encode DIR IN_JSON OUT_JSON       # ids of each text of a JSON list (no special tokens), for cross-checks

Pure Python and deterministic: the same files and options give byte-identical output.
Each line of a file is one text (its newline is not part of it; special tokens written in
it, such as "<unk>" in preprocessed corpora, are not learned from). Training: count the
byte-level pre-tokens (byte_level_bpe.py), start from the 256 byte characters, and
repeatedly merge the most frequent adjacent pair (ties: the pair whose left then right
token sorts first) until the vocabulary, special tokens included, has --vocab-size
entries or no pair occurs --min-frequency times.

Written to DIR (each file written to a temporary name, fsynced, renamed):
  tokenizer.json        model BPE + ByteLevel pre-tokenizer/decoder + RobertaProcessing
  vocab.json, merges.txt   the same model in the files RobertaTokenizer (slow) reads
  tokenizer_config.json, special_tokens_map.json
Special tokens follow roberta-base: <s>=0, <pad>=1, </s>=2, <unk>=3, <mask> the last id.
"""
import argparse
import heapq
import json
import os
import sys
import time
from collections import Counter, defaultdict

from byte_level_bpe import BYTE_TO_CHAR, ByteLevelBpe, pretokenize, split_specials, to_byte_chars

FIRST_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
MASK = "<mask>"


def count_words(paths):
    """Pre-token counts; special tokens written in the text ("<unk>" in preprocessed corpora) are left out."""
    counts = Counter()
    specials = {t: False for t in FIRST_SPECIALS + [MASK]}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    for special, part in split_specials(line.rstrip("\n"), specials):
                        if not special:
                            counts.update(to_byte_chars(p) for p in pretokenize(part))
        except (OSError, UnicodeDecodeError) as e:
            raise SystemExit(f"train_bpe: {path}: {e}")
    return counts


class PairCounts:
    """Adjacent-pair counts over all words, kept up to date merge by merge; a heap finds the most frequent."""

    def __init__(self, words, freqs):
        self.words, self.freqs = words, freqs
        self.count = defaultdict(int)
        self.where = defaultdict(set)
        for w, symbols in enumerate(words):
            self.add(w, symbols, +1)
        self.heap = [(-n, a, b) for (a, b), n in self.count.items()]
        heapq.heapify(self.heap)

    def add(self, w, symbols, sign):
        for pair in zip(symbols, symbols[1:]):
            self.count[pair] += sign * self.freqs[w]
            if sign > 0:
                self.where[pair].add(w)

    def best(self, min_frequency):
        while self.heap:
            n, a, b = self.heap[0]
            if -n == self.count.get((a, b), 0) and -n >= min_frequency:
                return a, b
            heapq.heappop(self.heap)  # stale: the count has changed since this entry was pushed
            if -n != self.count.get((a, b), 0) and self.count.get((a, b), 0) >= min_frequency:
                heapq.heappush(self.heap, (-self.count[(a, b)], a, b))
        return None

    def merge(self, a, b):
        merged = a + b
        touched = set()
        for w in list(self.where.pop((a, b), ())):
            old = self.words[w]
            if not any(x == a and y == b for x, y in zip(old, old[1:])):
                continue
            self.add(w, old, -1)
            new, k = [], 0
            while k < len(old):
                if k + 1 < len(old) and old[k] == a and old[k + 1] == b:
                    new.append(merged)
                    k += 2
                else:
                    new.append(old[k])
                    k += 1
            self.words[w] = new
            self.add(w, new, +1)
            touched.update(zip(new, new[1:]))
        self.count.pop((a, b), None)
        for pair in touched:
            if self.count.get(pair, 0) > 0:
                heapq.heappush(self.heap, (-self.count[pair], *pair))


def train(paths, vocab_size, min_frequency, progress=sys.stderr):
    counts = count_words(paths)
    alphabet = sorted(BYTE_TO_CHAR.values())
    room = vocab_size - len(FIRST_SPECIALS) - len(alphabet) - 1
    if room < 0:
        raise SystemExit(f"train_bpe: --vocab-size {vocab_size} is below the {len(FIRST_SPECIALS) + len(alphabet) + 1} special and byte tokens")
    ordered = sorted(counts)  # a fixed word order makes every later step deterministic
    pairs = PairCounts([list(w) for w in ordered], [counts[w] for w in ordered])
    merges, t0 = [], time.time()
    print(f"train_bpe: {sum(counts.values())} pre-tokens, {len(counts)} distinct; learning up to {room} merges", file=progress)
    while len(merges) < room:
        pair = pairs.best(min_frequency)
        if pair is None:
            break
        pairs.merge(*pair)
        merges.append(pair)
        if len(merges) % 500 == 0:
            print(f"train_bpe: {len(merges)} merges ({time.time() - t0:.1f} s)", file=progress)
    tokens = FIRST_SPECIALS + alphabet + [a + b for a, b in merges] + [MASK]
    vocab = {}
    for t in tokens:
        vocab.setdefault(t, len(vocab))
    return vocab, merges


def write_atomic(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def special_entry(token, vocab):
    return {"id": vocab[token], "content": token, "single_word": False, "lstrip": token == MASK, "rstrip": False, "normalized": False, "special": True}


def tokenizer_json(vocab, merges):
    specials = FIRST_SPECIALS + [MASK]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [special_entry(t, vocab) for t in specials],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", vocab["</s>"]], "cls": ["<s>", vocab["<s>"]], "trim_offsets": True, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "",
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": vocab,
            "merges": [f"{a} {b}" for a, b in merges],
        },
    }


def write_all(out, vocab, merges, model_max_length):
    os.makedirs(out, exist_ok=True)
    dump = lambda obj: json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    roles = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>", "pad_token": "<pad>", "cls_token": "<s>", "mask_token": MASK}
    write_atomic(f"{out}/tokenizer.json", dump(tokenizer_json(vocab, merges)))
    write_atomic(f"{out}/vocab.json", dump(vocab))
    write_atomic(f"{out}/merges.txt", "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    config = {"tokenizer_class": "RobertaTokenizer", **roles, "add_prefix_space": False, "trim_offsets": True, "errors": "replace",
              "model_max_length": model_max_length, "clean_up_tokenization_spaces": False}
    write_atomic(f"{out}/tokenizer_config.json", dump(config))
    write_atomic(f"{out}/special_tokens_map.json", dump(roles))


def load(out):
    """The encoder of DIR/tokenizer.json: model.vocab, model.merges (either form), added_tokens."""
    with open(f"{out}/tokenizer.json", encoding="utf-8") as f:
        j = json.load(f)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
    specials = {t["content"]: t.get("lstrip", False) for t in j.get("added_tokens", [])}
    return ByteLevelBpe(j["model"]["vocab"], merges, specials)


def main(argv):
    p = argparse.ArgumentParser(prog="train_bpe.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--vocab-size", type=int, required=True)
    t.add_argument("--min-frequency", type=int, default=2)
    t.add_argument("--model-max-length", type=int, default=512)
    t.add_argument("--out", required=True)
    t.add_argument("files", nargs="+")
    e = sub.add_parser("encode")
    e.add_argument("dir")
    e.add_argument("texts", help="JSON file: a list of strings")
    e.add_argument("out", help="JSON file written: a list of id lists")
    a = p.parse_args(argv)
    if a.cmd == "train":
        vocab, merges = train(a.files, a.vocab_size, a.min_frequency)
        write_all(a.out, vocab, merges, a.model_max_length)
        print(f"train_bpe: wrote {a.out}: {len(vocab)} tokens, {len(merges)} merges, <mask> = {vocab[MASK]}", file=sys.stderr)
    else:
        bpe = load(a.dir)
        with open(a.texts, encoding="utf-8") as f:
            texts = json.load(f)
        write_atomic(a.out, json.dumps([bpe.encode(t) for t in texts]))


if __name__ == "__main__":
    main(sys.argv[1:])
