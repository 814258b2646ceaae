/** Rank 0's backend choice from every rank's capabilities (same on all ranks). */
import { placeRanks, type GpuView, type RankDevice } from './placement.ts';
import type { BackendChoice, BackendName } from './types.ts';
import type { PeerInfo } from './rendezvous.ts';

export interface Capabilities extends GpuView {
  requested: BackendChoice;
  nccl: boolean;
  ncclWhy?: string;
  gloo: boolean;
}

export interface Decision {
  backend: BackendName;
  /** Per rank, the device it computes on (and NCCL's device). */
  devices: RankDevice[];
  /** Why auto did not pick nccl on a GPU host, for the log. */
  note?: string;
}

type Peer = PeerInfo & Capabilities;

export function chooseBackend(peers: PeerInfo[]): Decision {
  const ps = peers as Peer[];
  const explicit = [...new Set(ps.map((p) => p.requested).filter((r) => r !== 'auto'))];
  if (explicit.length > 1) {
    throw new Error(`ranks asked for different backends: ${ps.map((p) => `rank ${p.rank} ${p.requested}`).join(', ')}`);
  }
  const { devices, shared } = placeRanks(ps);
  const oneHost = ps.every((p) => p.hostKey === ps[0]!.hostKey);
  const check = (b: BackendName): string | undefined => {
    if (b === 'nccl') {
      const bad = ps.find((p) => !p.nccl);
      if (bad) return `rank ${bad.rank} cannot use NCCL: ${bad.ncclWhy ?? 'unavailable'}`;
      // NCCL needs one GPU per rank: two ranks on one GPU fail its init.
      if (shared.length > 0) return `NCCL needs a GPU per rank, but ${shared.join('; ')}`;
      return undefined;
    }
    if (b === 'shm') {
      const bad = ps.find((p) => p.hostKey !== ps[0]!.hostKey);
      return bad && `shm needs every rank on one machine, but rank ${bad.rank} runs on ${bad.host} and rank 0 on ${ps[0]!.host}`;
    }
    const bad = ps.find((p) => !p.gloo);
    return bad && `rank ${bad.rank} was built without the gloo backend (install libgloo-dev, then npm run build:native)`;
  };
  if (explicit.length === 1) {
    const b = explicit[0] as BackendName;
    const why = check(b);
    if (why) throw new Error(why);
    return { backend: b, devices };
  }
  for (const b of ['nccl', ...(oneHost ? ['shm'] : []), 'gloo'] as BackendName[]) {
    if (!check(b)) {
      const skipped = b !== 'nccl' && ps.some((p) => p.nccl) ? check('nccl') : undefined;
      return { backend: b, devices, ...(skipped ? { note: `using ${b} instead of NCCL: ${skipped}` } : {}) };
    }
  }
  throw new Error(`no backend fits every rank: ${check('gloo')}`);
}
