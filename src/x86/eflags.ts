// EFLAGS bit definitions (Intel SDM vol. 1, 3.4.3).

export const enum Flag {
  CF = 1 << 0,
  /** Bit 1 always reads as 1. */
  FIXED = 1 << 1,
  PF = 1 << 2,
  AF = 1 << 4,
  ZF = 1 << 6,
  SF = 1 << 7,
  TF = 1 << 8,
  IF = 1 << 9,
  DF = 1 << 10,
  OF = 1 << 11,
  IOPL = 3 << 12,
  NT = 1 << 14,
  RF = 1 << 16,
  VM = 1 << 17,
  AC = 1 << 18,
  VIF = 1 << 19,
  VIP = 1 << 20,
  ID = 1 << 21,
}

/** The six status flags that arithmetic sets. */
export const ARITH_FLAGS = Flag.CF | Flag.PF | Flag.AF | Flag.ZF | Flag.SF | Flag.OF;
