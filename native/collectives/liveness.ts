/**
 * Post-mortem after a failed collective: which peer is gone? The shm backend
 * names the rank itself (it watches peer pids while waiting); gloo and NCCL
 * only see a broken connection or a timeout, so we look at the peers from
 * here: a pid check for peers on this machine, the Redis heartbeat for others.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type { PeerInfo, Rendezvous } from './rendezvous.ts';

export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

export function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

export function localIdentity() {
  const host = hostname();
  return { host, hostKey: `${host}/${bootId()}`, pid: process.pid, pidns: pidNamespace() };
}

/** kill(pid, 0) also succeeds for zombies, which are dead for our purposes. */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

export interface DeadPeer {
  rank: number;
  why: string;
}

export async function findDeadPeers(rdzv: Rendezvous<unknown>, self: PeerInfo): Promise<DeadPeer[]> {
  const dead: DeadPeer[] = [];
  let remote = false;
  // A killed process closes its sockets (the peers see "connection reset")
  // before it becomes a zombie, so a local peer may still look alive for a
  // moment: look again a few times before concluding nobody died.
  for (let attempt = 0; attempt < 20 && dead.length === 0; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 50));
    remote = false;
    for (const p of rdzv.peers) {
      if (p.rank === self.rank) continue;
      if (p.hostKey === self.hostKey && p.pidns === self.pidns) {
        if (processGone(p.pid)) dead.push({ rank: p.rank, why: `rank ${p.rank} (pid ${p.pid} on ${p.host}) is no longer running` });
      } else {
        remote = true;
      }
    }
    if (remote) break;
  }
  if (dead.length > 0 || !remote) return dead;
  // A remote peer's heartbeat key outlives it by up to its TTL; poll briefly.
  for (let i = 0; i < 4; i++) {
    try {
      const stale = await rdzv.staleHeartbeats(3000);
      const ranks = stale.filter((r) => rdzv.peers[r]?.hostKey !== self.hostKey || rdzv.peers[r]?.pidns !== self.pidns);
      if (ranks.length > 0) {
        return ranks.map((r) => ({ rank: r, why: `rank ${r} (pid ${rdzv.peers[r]?.pid} on ${rdzv.peers[r]?.host}) stopped heartbeating` }));
      }
    } catch {
      return dead;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return dead;
}
