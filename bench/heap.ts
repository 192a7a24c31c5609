// Bytes allocated on V8's heap while some synchronous code runs, as V8's sampling heap profiler
// estimates them (every object and array, including those a minor GC has collected since): for
// the bench's exit path figure and the test that keeps it small.

import { Session as Inspector } from "node:inspector";

interface SamplingNode {
  selfSize: number;
  children: SamplingNode[];
}

function sampledBytes(n: SamplingNode): number {
  return n.selfSize + n.children.reduce((sum, c) => sum + sampledBytes(c), 0);
}

/** Bytes allocated while `run` runs (sampled every 128 bytes on average). */
export async function allocated(run: () => void): Promise<number> {
  const insp = new Inspector();
  insp.connect();
  const post = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve, reject) => insp.post(method, params, (e, r) => (e ? reject(e) : resolve(r as T))));
  try {
    await post("HeapProfiler.enable");
    await post("HeapProfiler.startSampling", { samplingInterval: 128, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
    run();
    const { profile } = await post<{ profile: { head: SamplingNode } }>("HeapProfiler.stopSampling");
    return sampledBytes(profile.head);
  } finally {
    insp.disconnect();
  }
}
