// The MC146818 real-time clock and CMOS RAM: index port 0x70 (bit 7 masks NMI), data port 0x71,
// IRQ8. 128 bytes: the clock registers 0x00-0x09, control registers A-D at 0x0A-0x0D, and RAM
// the PC BIOS convention fills with memory sizes and the century.
//
// Wall-clock time is an input: the constructor takes the time (seconds since the Unix epoch, UTC)
// at virtual time zero, and from then on the clock advances only by the virtual clock, through
// advanceTo(virtualNanoseconds) or an optional clock source. Internally time is counted in ticks
// of the chip's 32.768 kHz time base, so the periodic rates (2 Hz to 8192 Hz), the once-a-second
// update cycle and the 244 us update-in-progress window are exact integers.
//
// The clock registers are the state, as on the chip: an update cycle reads them, adds the
// elapsed seconds and writes them back in the current format (BCD or binary, 12 or 24 hours), so
// a guest that sets the time (with SET, as Linux's mc146818_set_time does) sees its own values
// tick on. Not modelled: daylight-saving switching (DSE), the square-wave output, divider
// chains for other crystals (only DV=010 runs; 11x holds the chain in reset). When time jumps
// over several update cycles at once the alarm is compared at the last second only; a machine
// that wants every alarm schedules nextEventNs().

import { type AccessSize, type Line, type PortHandler, readSplit, writeSplit } from "./port.js";

export const RTC_INDEX_PORT = 0x70;
export const RTC_DATA_PORT = 0x71;
export const RTC_IRQ = 8;

/** Ticks of the 32.768 kHz time base per second. */
const HZ = 32768;
/** UIP rises this many ticks (244 us) before each update. */
const UIP_TICKS = 8;

// Register numbers.
const SEC = 0x00;
const SEC_ALARM = 0x01;
const MIN = 0x02;
const MIN_ALARM = 0x03;
const HOUR = 0x04;
const HOUR_ALARM = 0x05;
const WEEKDAY = 0x06;
const DAY = 0x07;
const MONTH = 0x08;
const YEAR = 0x09;
const REG_A = 0x0a;
const REG_B = 0x0b;
const REG_C = 0x0c;
const REG_D = 0x0d;
export const CMOS_CENTURY = 0x32;

// Register A
const A_UIP = 0x80;
const A_DV_RUN = 0x20; // DV = 010: 32.768 kHz time base, running
// Register B
const B_SET = 0x80;
const B_PIE = 0x40;
const B_AIE = 0x20;
const B_UIE = 0x10;
const B_DM_BINARY = 0x04;
const B_24H = 0x02;
// Register C
const C_IRQF = 0x80;
const C_PF = 0x40;
const C_AF = 0x20;
const C_UF = 0x10;
// Register D
const D_VRT = 0x80;

export interface RtcOptions {
  /** Wall-clock time at virtual time zero, in whole seconds since 1970-01-01 00:00 UTC. */
  epochSeconds: number;
  /** RAM size in bytes, for the CMOS memory-size fields. */
  memoryBytes?: number;
  /** Keep the clock in binary rather than BCD (register B DM). */
  binary?: boolean;
  /** Keep the clock in 12-hour format. */
  hour12?: boolean;
  /** IRQ8, raised while register C's IRQF is set. */
  irq?: Line;
  /** The machine's virtual time in nanoseconds; with it, port accesses bring the chip up to date. */
  clock?: () => number;
  /**
   * Where the divider chain is at virtual time zero, in ticks into its second (0..32767; default
   * 0): a chip powered on mid-second has its first update cycle and periodic interrupts that much
   * sooner. Real hardware leaves it open; chaos runs choose it.
   */
  phaseTicks?: number;
}

export interface RtcState {
  cmos: number[];
  index: number;
  nmiMasked: boolean;
  /** Current time in 32.768 kHz ticks. */
  now: number;
  /** Tick of the next update cycle. */
  nextUpdate: number;
  /** Tick at which the divider chain last left reset: the periodic rate's phase. */
  divBase: number;
  irq: boolean;
}

/** Virtual nanoseconds to whole 32.768 kHz ticks (exact for any safe-integer ns). */
export function nsToRtcTicks(ns: number): number {
  const s = Math.floor(ns / 1e9);
  return s * HZ + Math.floor(((ns - s * 1e9) * HZ) / 1e9);
}

/** The first virtual nanosecond at which tick `t` has begun. */
export function rtcTicksToNs(t: number): number {
  const s = Math.floor(t / HZ);
  return s * 1e9 + Math.ceil(((t - s * HZ) * 1e9) / HZ);
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** Ticks between periodic interrupts for rate select `rs` (0: none). */
function periodTicks(rs: number): number {
  if (rs === 0) return 0;
  if (rs <= 2) return 1 << (rs + 6); // 256 Hz and 128 Hz, as rates 8 and 9
  return 1 << (rs - 1);
}

export class Rtc146818 implements PortHandler {
  private readonly cmos = new Uint8Array(128);
  private index = 0;
  private nmiMasked = false;
  private now = 0;
  private nextUpdate = HZ;
  private divBase = 0;
  private irqLevel = false;
  private readonly irq: Line | undefined;
  private readonly clock: (() => number) | undefined;

  constructor(opts: RtcOptions) {
    this.irq = opts.irq;
    this.clock = opts.clock;
    const phase = opts.phaseTicks ?? 0;
    if (!Number.isInteger(phase) || phase < 0 || phase >= HZ) throw new Error(`rtc: phase of ${phase} ticks is not 0..${HZ - 1}`);
    this.nextUpdate = HZ - phase;
    this.divBase = 0 - phase; // +0, not -0, for phase 0: the state is hashed as msgpack
    const c = this.cmos;
    c[REG_A] = A_DV_RUN | 0x06; // 32.768 kHz, 1024 Hz periodic rate
    c[REG_B] = (opts.hour12 ? 0 : B_24H) | (opts.binary ? B_DM_BINARY : 0);
    c[REG_D] = D_VRT;
    c[0x14] = 0x02; // equipment: math coprocessor present, VGA, no floppies
    this.fillMemorySizes(opts.memoryBytes ?? 0);
    this.writeClock(Math.floor(opts.epochSeconds));
    this.checksum();
  }

  /** Whether the last index write set bit 7 (NMI disabled). */
  get nmiDisabled(): boolean {
    return this.nmiMasked;
  }

  /** The wall-clock time the registers hold now, in seconds since the Unix epoch. */
  epochSeconds(): number {
    this.sync();
    return this.readClock();
  }

  /** Runs the clock forward to virtual time `ns`. */
  advanceTo(ns: number): void {
    const t = nsToRtcTicks(ns);
    if (t <= this.now) return;
    const c = this.cmos;
    const running = (c[REG_A] & 0x70) === A_DV_RUN;
    if (running) {
      const period = periodTicks(c[REG_A] & 0x0f);
      if (period !== 0 && Math.floor((t - this.divBase) / period) > Math.floor((this.now - this.divBase) / period)) {
        c[REG_C] |= C_PF;
      }
      if (t >= this.nextUpdate) {
        const cycles = 1 + Math.floor((t - this.nextUpdate) / HZ);
        this.nextUpdate += cycles * HZ;
        if (!(c[REG_B] & B_SET)) this.updateCycles(cycles);
      }
    }
    this.now = t;
    this.refreshIrq();
  }

  /**
   * The next virtual nanosecond at which an enabled interrupt source (periodic, update-ended,
   * alarm) can fire, or Infinity.
   */
  nextEventNs(): number {
    const c = this.cmos;
    if ((c[REG_A] & 0x70) !== A_DV_RUN) return Infinity;
    let next = Infinity;
    const period = periodTicks(c[REG_A] & 0x0f);
    if (c[REG_B] & B_PIE && period !== 0) {
      next = this.divBase + (Math.floor((this.now - this.divBase) / period) + 1) * period;
    }
    if (c[REG_B] & (B_UIE | B_AIE) && !(c[REG_B] & B_SET)) next = Math.min(next, this.nextUpdate);
    return next === Infinity ? next : rtcTicksToNs(next);
  }

  read(port: number, size: AccessSize): number {
    if (size !== 1) return readSplit(port, size, (p) => this.readByte(p));
    return this.readByte(port);
  }

  write(port: number, size: AccessSize, value: number): void {
    if (size !== 1) return writeSplit(port, size, value, (p, v) => this.writeByte(p, v));
    this.writeByte(port, value & 0xff);
  }

  private sync(): void {
    if (this.clock !== undefined) this.advanceTo(this.clock());
  }

  private readByte(port: number): number {
    if (port !== RTC_DATA_PORT) return 0xff; // the index register is write-only
    this.sync();
    const c = this.cmos;
    switch (this.index) {
      case REG_A: {
        const uip = (c[REG_A] & 0x70) === A_DV_RUN && !(c[REG_B] & B_SET) && this.nextUpdate - this.now <= UIP_TICKS;
        return c[REG_A] | (uip ? A_UIP : 0);
      }
      case REG_C: {
        const v = c[REG_C];
        c[REG_C] = 0;
        this.refreshIrq();
        return v;
      }
      default:
        return c[this.index];
    }
  }

  private writeByte(port: number, v: number): void {
    if (port === RTC_INDEX_PORT) {
      this.index = v & 0x7f;
      this.nmiMasked = (v & 0x80) !== 0;
      return;
    }
    if (port !== RTC_DATA_PORT) return;
    this.sync();
    const c = this.cmos;
    switch (this.index) {
      case REG_A: {
        const wasRunning = (c[REG_A] & 0x70) === A_DV_RUN;
        c[REG_A] = v & 0x7f;
        if (!wasRunning && (v & 0x70) === A_DV_RUN) {
          // Leaving divider reset: the first update comes half a second later.
          this.divBase = this.now;
          this.nextUpdate = this.now + HZ / 2;
        }
        break;
      }
      case REG_B:
        // Setting SET stops updates and clears UIE.
        c[REG_B] = v & B_SET ? v & ~B_UIE : v;
        break;
      case REG_C:
      case REG_D:
        return; // read-only
      default:
        c[this.index] = v;
    }
    this.refreshIrq();
  }

  private refreshIrq(): void {
    const c = this.cmos;
    const flags = c[REG_C] & c[REG_B] & (C_PF | C_AF | C_UF);
    if (flags) c[REG_C] |= C_IRQF;
    else c[REG_C] &= ~C_IRQF;
    const level = flags !== 0;
    if (level !== this.irqLevel) {
      this.irqLevel = level;
      this.irq?.(level);
    }
  }

  /** Runs `n` update cycles: the clock gains n seconds, UF is set, the alarm is compared. */
  private updateCycles(n: number): void {
    this.writeClock(this.readClock() + n);
    const c = this.cmos;
    c[REG_C] |= C_UF;
    const match = (alarm: number, reg: number) => (alarm & 0xc0) === 0xc0 || alarm === c[reg];
    if (match(c[SEC_ALARM], SEC) && match(c[MIN_ALARM], MIN) && match(c[HOUR_ALARM], HOUR)) c[REG_C] |= C_AF;
  }

  private decode(v: number): number {
    return this.cmos[REG_B] & B_DM_BINARY ? v : (v >> 4) * 10 + (v & 15);
  }

  private encode(v: number): number {
    return this.cmos[REG_B] & B_DM_BINARY ? v : (Math.floor(v / 10) << 4) | v % 10;
  }

  /** The registers' date and time as seconds since the epoch (out-of-range fields roll over). */
  private readClock(): number {
    const c = this.cmos;
    const sec = this.decode(c[SEC] & 0x7f);
    const min = this.decode(c[MIN] & 0x7f);
    let hour: number;
    if (c[REG_B] & B_24H) hour = this.decode(c[HOUR] & 0x3f);
    else hour = (this.decode(c[HOUR] & 0x7f) % 12) + (c[HOUR] & 0x80 ? 12 : 0);
    const day = Math.max(1, this.decode(c[DAY]));
    const month = Math.min(12, Math.max(1, this.decode(c[MONTH])));
    const yy = this.decode(c[YEAR]) % 100;
    const cent = this.decode(c[CMOS_CENTURY]);
    const year = cent >= 19 && cent <= 99 ? cent * 100 + yy : yy < 70 ? 2000 + yy : 1900 + yy;
    return ((daysFromCivil(year, month, day) * 24 + hour) * 60 + min) * 60 + sec;
  }

  private writeClock(t: number): void {
    const c = this.cmos;
    const days = Math.floor(t / 86400);
    let rem = t - days * 86400;
    const hour = Math.floor(rem / 3600);
    rem -= hour * 3600;
    const [year, month, day] = civilFromDays(days);
    c[SEC] = this.encode(rem % 60);
    c[MIN] = this.encode(Math.floor(rem / 60));
    if (c[REG_B] & B_24H) c[HOUR] = this.encode(hour);
    else c[HOUR] = this.encode(hour % 12 === 0 ? 12 : hour % 12) | (hour >= 12 ? 0x80 : 0);
    c[WEEKDAY] = ((((days + 4) % 7) + 7) % 7) + 1; // 1970-01-01 was a Thursday; Sunday is 1
    c[DAY] = this.encode(day);
    c[MONTH] = this.encode(month);
    c[YEAR] = this.encode(year % 100);
    c[CMOS_CENTURY] = this.encode(Math.floor(year / 100));
  }

  private fillMemorySizes(bytes: number): void {
    const c = this.cmos;
    const baseKb = Math.min(640, Math.floor(bytes / 1024));
    c[0x15] = baseKb & 0xff;
    c[0x16] = baseKb >> 8;
    const extKb = Math.min(0xffff, Math.max(0, Math.floor(bytes / 1024) - 1024));
    c[0x17] = c[0x30] = extKb & 0xff;
    c[0x18] = c[0x31] = extKb >> 8;
    const above16M = Math.min(0xffff, Math.max(0, Math.floor((bytes - 16 * 1024 * 1024) / 65536)));
    c[0x34] = above16M & 0xff;
    c[0x35] = above16M >> 8;
  }

  /** The standard checksum over 0x10-0x2D, big-endian at 0x2E. */
  private checksum(): void {
    let sum = 0;
    for (let i = 0x10; i <= 0x2d; i++) sum += this.cmos[i];
    this.cmos[0x2e] = (sum >> 8) & 0xff;
    this.cmos[0x2f] = sum & 0xff;
  }

  save(): RtcState {
    return {
      cmos: Array.from(this.cmos),
      index: this.index,
      nmiMasked: this.nmiMasked,
      now: this.now,
      nextUpdate: this.nextUpdate,
      divBase: this.divBase,
      irq: this.irqLevel,
    };
  }

  restore(s: RtcState): void {
    this.cmos.set(s.cmos);
    this.index = s.index;
    this.nmiMasked = s.nmiMasked;
    this.now = s.now;
    this.nextUpdate = s.nextUpdate;
    this.divBase = s.divBase;
    this.irqLevel = s.irq;
  }
}
