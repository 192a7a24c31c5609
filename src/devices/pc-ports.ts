// The PC's I/O port map: which chip answers which ports, as [first port, count] ranges. The bare
// PC attaches its chips here, the VMM routes the guest's port exits by it, and the stack keeps
// the platform's own chips' ranges (the PIC and the PIT, which the kernel drives) from user tasks.

import { DEBUGCON_PORT } from "./debugcon.js";
import { I8042_COMMAND_PORT, I8042_DATA_PORT } from "./i8042.js";
import { PCI_ADDRESS_PORT } from "./pci.js";
import { PIC_ELCR_PORT, PIC_MASTER_PORT, PIC_SLAVE_PORT } from "./pic8259.js";
import { PIT_PORT, SYSTEM_PORT_B } from "./pit8254.js";
import { POST_PORT } from "./post.js";
import { RTC_INDEX_PORT } from "./rtc146818.js";
import { COM1_PORT } from "./uart16550.js";

export type PortRange = readonly [first: number, count: number];

export const PC_PORTS = {
  pic: [[PIC_MASTER_PORT, 2], [PIC_SLAVE_PORT, 2], [PIC_ELCR_PORT, 2]],
  pit: [[PIT_PORT, 4], [SYSTEM_PORT_B, 1]],
  uart: [[COM1_PORT, 8]],
  rtc: [[RTC_INDEX_PORT, 2]],
  kbc: [[I8042_DATA_PORT, 1], [I8042_COMMAND_PORT, 1]],
  pci: [[PCI_ADDRESS_PORT, 8]],
  post: [[POST_PORT, 1]],
  debugcon: [[DEBUGCON_PORT, 1]],
} as const satisfies Record<string, readonly PortRange[]>;
