// A digest of the whole machine state: RAM read in place, and everything else as it saves itself.
// Replay compares these against the recording's to prove both runs are the same run.

import { createHash } from "node:crypto";
import { Packr } from "msgpackr";
import type { Pc } from "../machine/pc.js";

const packr = new Packr({ useRecords: false, moreTypes: false });

/** SHA-256 of the machine state, as 32 hex digits (128 bits are plenty to tell runs apart). */
export function stateHash(pc: Pc): string {
  const h = createHash("sha256");
  h.update(pc.mem.u8);
  h.update(packr.pack(pc.save({ ram: false })));
  return h.digest("hex").slice(0, 32);
}
