// Every instruction family registers its handlers when imported; the CPU imports this once.
import "./alu.js";
import "./unary.js";
import "./shift.js";
import "./bits.js";
import "./bcd.js";
import "./move.js";
import "./control.js";
import "./stack.js";
import "./string.js";
import "./system.js";
import "./sysreg.js";
import "./descriptor.js";
import "./sysenter.js";
import "./x87.js";
