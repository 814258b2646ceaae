/**
 * BERT's BasicTokenizer (google-research/bert tokenization.py, as Hugging
 * Face's BertNormalizer + BertPreTokenizer): clean control characters,
 * space out CJK ideographs, split on whitespace, lower-case and strip accents
 * when asked, and split off punctuation (ASCII symbols count as punctuation).
 */
const CONTROL = /[\p{Cc}\p{Cf}\u0000\uFFFD]/gu;
const WHITESPACE_CHARS = /[\t\n\r\p{Zs}]/gu;
const CJK =
  /([\u{4E00}-\u{9FFF}\u{3400}-\u{4DBF}\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B820}-\u{2CEAF}\u{F900}-\u{FAFF}\u{2F800}-\u{2FA1F}])/gu;
const PUNCT = /([!-/:-@[-`{-~]|\p{P})/u;
const MARKS = /\p{Mn}/gu;

export function basicTokenize(text: string, lowerCase: boolean): string[] {
  // \t \n \r are Cc but are whitespace to BERT: map them to spaces before dropping controls.
  let t = text.replace(WHITESPACE_CHARS, ' ').replace(CONTROL, '').replace(CJK, ' $1 ');
  if (lowerCase) t = t.toLowerCase().normalize('NFD').replace(MARKS, '');
  const words: string[] = [];
  for (const chunk of t.split(' ')) {
    if (!chunk) continue;
    if (!PUNCT.test(chunk)) {
      words.push(chunk);
      continue;
    }
    for (const piece of chunk.split(PUNCT)) if (piece) words.push(piece);
  }
  return words;
}
