// The AT chip set as one piece of state: the chips the bare PC wires as its hardware and the VMM as
// its virtual devices (src/machine/pc.ts, src/vmm/devices.ts), saved and restored alike.

import type { I8042, I8042State } from "./i8042.js";
import type { PciConfigBus, PciState } from "./pci.js";
import type { Pic8259, PicState } from "./pic8259.js";
import type { Pit8254, PitState } from "./pit8254.js";
import type { PostPort, PostState } from "./post.js";
import type { Rtc146818, RtcState } from "./rtc146818.js";
import type { Uart16550, UartState } from "./uart16550.js";

export interface ChipSet {
  readonly pic: Pic8259;
  readonly pit: Pit8254;
  readonly uart: Uart16550;
  readonly rtc: Rtc146818;
  readonly kbc: I8042;
  readonly pci: PciConfigBus;
  readonly post: PostPort;
}

export interface ChipSetState {
  pic: PicState;
  pit: PitState;
  uart: UartState;
  rtc: RtcState;
  kbc: I8042State;
  pci: PciState;
  post: PostState;
}

export function saveChips(c: ChipSet): ChipSetState {
  return { pic: c.pic.save(), pit: c.pit.save(), uart: c.uart.save(), rtc: c.rtc.save(), kbc: c.kbc.save(), pci: c.pci.save(), post: c.post.save() };
}

export function restoreChips(c: ChipSet, s: ChipSetState): void {
  c.pit.restore(s.pit);
  c.uart.restore(s.uart);
  c.rtc.restore(s.rtc);
  c.kbc.restore(s.kbc);
  c.pci.restore(s.pci);
  c.post.restore(s.post);
  // The PIC last: a restored chip may drive its interrupt line, and the PIC's saved lines are the truth.
  c.pic.restore(s.pic);
}
