// Exception vectors (SDM vol. 3, 6.3.1, table 6-1): the CPU raises them, the VMM injects and
// decodes them, the kernel reports them in exception messages.

export const enum Vec {
  DE = 0, DB = 1, NMI = 2, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8,
  TS = 10, NP = 11, SS = 12, GP = 13, PF = 14, MF = 16, AC = 17, MC = 18, XM = 19,
}

/** Vectors that push an error code: #DF #TS #NP #SS #GP #PF #AC (SDM vol. 3, table 6-1). */
export function hasErrorCode(vector: number): boolean {
  return vector === Vec.DF || (vector >= Vec.TS && vector <= Vec.PF) || vector === Vec.AC;
}

const enum Class { BENIGN = 0, CONTRIBUTORY = 1, PAGE_FAULT = 2 }

function classOf(vector: number): Class {
  if (vector === Vec.DE || (vector >= Vec.TS && vector <= Vec.GP)) return Class.CONTRIBUTORY;
  if (vector === Vec.PF) return Class.PAGE_FAULT;
  return Class.BENIGN;
}

/**
 * SDM vol. 3, table 6-5: does exception `second`, raised while delivering exception `first`, make
 * a double fault? (The CPU's delivery, and the VMM's task switch through an IDT task gate.)
 */
export function isDoubleFault(first: number, second: number): boolean {
  const a = classOf(first), b = classOf(second);
  if (a === Class.CONTRIBUTORY) return b === Class.CONTRIBUTORY;
  if (a === Class.PAGE_FAULT) return b !== Class.BENIGN;
  return false;
}
