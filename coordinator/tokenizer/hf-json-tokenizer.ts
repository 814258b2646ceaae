import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { fingerprintOf, specialIdsFrom, type Encoded, type SpecialIds, type Tokenizer } from './tokenizer.ts';

/**
 * A Hugging Face tokenizer.json, run by @huggingface/tokenizers (the
 * maintained JS port). Word boundaries come from the WordPiece continuation
 * prefix, exactly as Hugging Face's whole-word-masking collator finds them.
 */
export class HfJsonTokenizer implements Tokenizer {
  readonly kind = 'tokenizer.json' as const;
  readonly vocabSize: number;
  readonly special: SpecialIds;
  readonly fingerprint: string;
  private readonly hf: HfTokenizer;
  private readonly idToTok: string[];
  private readonly continuation: string;

  constructor(path: string) {
    const raw = readFileSync(path, 'utf8');
    const json = JSON.parse(raw) as { model?: { type?: string; continuing_subword_prefix?: string; merges?: unknown } };
    // Files written by older `tokenizers` releases (bert-base-uncased's among them) carry no model.type.
    if (json.model && json.model.type === undefined && json.model.merges === undefined) json.model.type = 'WordPiece';
    if (json.model?.type !== 'WordPiece') {
      throw new Error(`${path}: model type ${JSON.stringify(json.model?.type)} is not supported (BERT's WordPiece is)`);
    }
    const cfgPath = join(dirname(path), 'tokenizer_config.json');
    const cfg = existsSync(cfgPath) ? JSON.parse(readFileSync(cfgPath, 'utf8')) : {};
    this.hf = new HfTokenizer(json, cfg);
    this.continuation = json.model.continuing_subword_prefix ?? '##';
    const vocab = this.hf.get_vocab(true);
    this.vocabSize = Math.max(...vocab.values()) + 1;
    this.idToTok = new Array<string>(this.vocabSize).fill('[UNK]');
    for (const [tok, id] of vocab) this.idToTok[id] = tok;
    this.special = specialIdsFrom((t) => vocab.get(t), path);
    this.fingerprint = fingerprintOf('tokenizer.json', raw, JSON.stringify(cfg));
  }

  encode(text: string): Encoded {
    const { ids } = this.hf.encode(text, { add_special_tokens: false });
    const wordStarts = ids.map((id: number) => (this.idToTok[id]!.startsWith(this.continuation) ? 0 : 1));
    return { ids, wordStarts };
  }

  idToToken(id: number): string {
    return this.idToTok[id] ?? '[UNK]';
  }

  tokenToId(token: string): number | undefined {
    return this.hf.token_to_id(token);
  }
}
