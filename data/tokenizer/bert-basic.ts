/**
 * BERT's BasicTokenizer (google-research/bert tokenization.py, as Hugging
 * Face's BertNormalizer + BertPreTokenizer): clean control characters,
 * space out CJK ideographs, split on whitespace, lower-case and strip accents
 * when asked, and split off punctuation (ASCII symbols count as punctuation).
 * Split in two so callers can cache per whitespace-separated chunk.
 */
const CONTROL = /[\p{Cc}\p{Cf}\u0000\uFFFD]/gu;
const WHITESPACE_CHARS = /[\t\n\r\p{Zs}]/gu;
const CJK =
  /([\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}])/gu;
const PUNCT = /([!-/:-@[-`{-~]|\p{P})/u;
const MARKS = /\p{Mn}/gu;
const PLAIN = /^[\x20-\x7e]*$/;

/** Whitespace normalised to single spaces' worth of separators, controls dropped, CJK spaced out. */
export function cleanText(text: string): string {
  // Printable ASCII (most corpora, most lines) needs none of the Unicode passes.
  if (PLAIN.test(text)) return text;
  // \t \n \r are Cc but are whitespace to BERT: map them to spaces before dropping controls.
  return text.replace(WHITESPACE_CHARS, ' ').replace(CONTROL, '').replace(CJK, ' $1 ');
}

/** One whitespace-free chunk → its words (lower-cased and accent-stripped when asked, punctuation split off). */
export function splitChunk(chunk: string, lowerCase: boolean): string[] {
  const t = lowerCase ? (PLAIN.test(chunk) ? chunk.toLowerCase() : chunk.toLowerCase().normalize('NFD').replace(MARKS, '')) : chunk;
  if (!PUNCT.test(t)) return t ? [t] : [];
  return t.split(PUNCT).filter(Boolean);
}

export function basicTokenize(text: string, lowerCase: boolean): string[] {
  const words: string[] = [];
  for (const chunk of cleanText(text).split(' ')) if (chunk) words.push(...splitChunk(chunk, lowerCase));
  return words;
}
