"""Byte-level BPE as GPT-2 and RoBERTa define it, in plain Python: pre-tokenizer, byte alphabet, encode, decode.

- Pre-tokenizer: GPT-2's pattern
      's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+
  (Hugging Face's ByteLevel with use_regex), implemented as a scanner because
  Python's `re` has no \\p{L}; \\s is JavaScript's set (what @huggingface/tokenizers
  runs), which differs from Oniguruma's only at U+0085 and U+FEFF.
- Every UTF-8 byte of a pre-token becomes one printable character
  (bytes_to_unicode: a space is "Ġ", a newline "Ċ"), so the 256 byte characters
  cover any text and no <unk> is ever needed.
- Encoding a pre-token: merge the adjacent pair whose merge rule comes first,
  until none applies.
- Special tokens written in the text ("<unk>", "<mask>") are cut out first and
  become their ids, as Hugging Face's added tokens are; one with lstrip (RoBERTa's
  <mask>) takes the whitespace before it along.
"""
import unicodedata

CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")
# JavaScript's \s (ECMAScript WhiteSpace + LineTerminator).
SPACES = frozenset("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(chr(c) for c in range(0x2000, 0x200B)))


def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes map to themselves, the other 68 to U+0100 onwards."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def is_letter(ch):
    return unicodedata.category(ch).startswith("L")


def is_number(ch):
    return unicodedata.category(ch).startswith("N")


def is_other(ch):
    return ch not in SPACES and not is_letter(ch) and not is_number(ch)


def pretokenize(text):
    """GPT-2's pattern, alternative by alternative, leftmost match first (see the module docstring)."""
    out, i, n = [], 0, len(text)
    while i < n:
        contraction = next((c for c in CONTRACTIONS if text.startswith(c, i)), None)
        if contraction:
            out.append(contraction)
            i += len(contraction)
            continue
        for cls in (is_letter, is_number, is_other):
            start = i + 1 if text[i] == " " and i + 1 < n and cls(text[i + 1]) else (i if cls(text[i]) else None)
            if start is not None:
                end = start
                while end < n and cls(text[end]):
                    end += 1
                out.append(text[i:end])
                i = end
                break
        else:
            end = i
            while end < n and text[end] in SPACES:
                end += 1
            # \s+(?!\S): a run followed by a word gives its last space to that word.
            if end < n and end - i >= 2:
                end -= 1
            out.append(text[i:end])
            i = end
    return out


def to_byte_chars(piece):
    return "".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))


def from_byte_chars(text):
    return bytes(CHAR_TO_BYTE[c] for c in text).decode("utf-8", errors="replace")


def split_specials(text, specials):
    """[(is_special, piece)] with every occurrence of a special token cut out, longest first.

    `specials` maps a token to its lstrip flag: whitespace left of an lstrip token
    belongs to the token (it is dropped from the text before it).
    """
    out, i, start = [], 0, 0
    ordered = sorted(specials, key=len, reverse=True)
    while i < len(text):
        hit = next((t for t in ordered if text.startswith(t, i)), None)
        if hit is None:
            i += 1
            continue
        before = text[start:i]
        if specials[hit]:
            before = before.rstrip("".join(SPACES))
        if before:
            out.append((False, before))
        out.append((True, hit))
        i += len(hit)
        start = i
    if start < len(text):
        out.append((False, text[start:]))
    return out


class ByteLevelBpe:
    """Encoder over a vocabulary {token: id}, ordered merges [(left, right), ...] and special tokens {token: lstrip}."""

    def __init__(self, vocab, merges, specials=None):
        self.vocab = vocab
        self.rank = {pair: r for r, pair in enumerate(merges)}
        self.specials = specials or {}
        self.cache = {}

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        symbols = list(word)
        while len(symbols) > 1:
            pairs = [(self.rank.get((a, b), len(self.rank)), k) for k, (a, b) in enumerate(zip(symbols, symbols[1:]))]
            best, k = min(pairs)
            if best == len(self.rank):
                break
            symbols[k : k + 2] = [symbols[k] + symbols[k + 1]]
        self.cache[word] = symbols
        return symbols

    def encode(self, text):
        ids = []
        for special, part in split_specials(text, self.specials):
            ids.extend([self.vocab[part]] if special else [self.vocab[s] for piece in pretokenize(part) for s in self.bpe(to_byte_chars(piece))])
        return ids

    def decode(self, ids):
        inverse = {i: t for t, i in self.vocab.items()}
        return from_byte_chars("".join(inverse[i] for i in ids))
