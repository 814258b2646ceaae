#!/usr/bin/env node
// The `gradpool` command: runs the TypeScript CLI through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../cli/gradpool.ts');
