/**
 * Which GPU each rank computes on, decided by rank 0 from what every rank
 * sees. GPUs are compared by PCI bus id, which is the same in every process
 * whatever CUDA_VISIBLE_DEVICES says. Ranks on one host get distinct GPUs
 * while there are enough; beyond that some share one, and NCCL (which
 * refuses two ranks on one GPU: "Duplicate GPU detected") is ruled out.
 */
import type { PeerInfo } from './rendezvous.ts';

export interface GpuView {
  /** Bus ids of the GPUs this rank sees, by CUDA ordinal. */
  gpus: string[];
  /** An explicit CUDA ordinal asked for (CommunicatorOptions.nccl.device). */
  requestedDevice?: number;
}

/** Per rank: the CUDA ordinal in that rank's process and its bus id, or index -1 for cpu. */
export interface RankDevice {
  index: number;
  busId: string | null;
}

export interface PlacementPlan {
  devices: RankDevice[];
  /** One line per GPU that several ranks of one host share. */
  shared: string[];
}

type Peer = PeerInfo & GpuView;

export function placeRanks(peers: PeerInfo[]): PlacementPlan {
  const ps = peers as Peer[];
  const devices: RankDevice[] = ps.map(() => ({ index: -1, busId: null }));
  const shared: string[] = [];
  for (const host of new Set(ps.map((p) => p.hostKey))) {
    const local = ps.filter((p) => p.hostKey === host).sort((a, b) => a.rank - b.rank);
    const users = new Map<string, number[]>();
    // Explicit requests first, then the ranks that see fewest GPUs (they have least choice).
    const order = [...local].sort((a, b) =>
      Number(a.requestedDevice === undefined) - Number(b.requestedDevice === undefined) ||
      (a.gpus ?? []).length - (b.gpus ?? []).length || a.rank - b.rank);
    for (const p of order) {
      const gpus = (p.gpus ?? []).map((g) => g.toLowerCase());
      if (gpus.length === 0) continue;
      const index = p.requestedDevice ?? firstFree(gpus, users, local.indexOf(p) % gpus.length);
      if (!Number.isInteger(index) || index < 0 || index >= gpus.length) {
        throw new Error(`rank ${p.rank} asked for CUDA device ${index} but sees ${gpus.length} GPU(s)`);
      }
      const busId = gpus[index]!;
      devices[p.rank] = { index, busId };
      users.set(busId, [...(users.get(busId) ?? []), p.rank]);
    }
    for (const [busId, ranks] of users) {
      if (ranks.length > 1) {
        shared.push(`ranks ${ranks.sort((a, b) => a - b).join(' and ')} share GPU ${busId} on ${local[0]!.host}`);
      }
    }
  }
  return { devices, shared };
}

/** The first GPU from `start` on (cyclically) that no rank uses yet, else `start`. */
function firstFree(gpus: string[], users: Map<string, number[]>, start: number): number {
  for (let k = 0; k < gpus.length; k++) {
    const i = (start + k) % gpus.length;
    if (!users.has(gpus[i]!)) return i;
  }
  return start;
}
