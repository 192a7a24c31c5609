/*
 * Afterglow native conformance runner: executes single IA32 instructions on the host CPU and
 * records the final architectural state, so the emulator can be tested against real silicon.
 *
 * Build: gcc -m32 -static -O1 -fno-stack-protector -o runner runner.c
 * Usage: runner cases.bin results.bin
 *
 * Input (little-endian):
 *   header: "AGNC" u32 version(1) u32 count u32 codeAddr u32 codeSize u32 dataAddr u32 dataSize
 *           u8 pattern[dataSize]            -- initial contents of the data region for every case
 *   case:   u8 codeLen u8 flags u16 nmem u8 code[codeLen]
 *           u32 regs[8] (EAX ECX EDX EBX ESP EBP ESI EDI) u32 eflags
 *           u16 segs[6] (ES CS SS DS FS GS; CS is ignored: always the user code selector)
 *           nmem x { u32 addr u16 len u8 bytes[len] }   -- overrides on top of the pattern
 * Output:
 *   header: "AGNR" u32 version(1) u32 count u16 segs[6] (as observed natively at start-up)
 *   case:   u32 regs[8] u32 eip u32 eflags u16 segs[6] i32 trapno u32 err u32 signo u32 cr2
 *           u32 ndiff, ndiff x { u32 addr u16 len u8 bytes[len] }  -- data-region bytes that changed
 * trapno is -2 when a 200 ms watchdog expired (the instruction never reached an int3), and -1 when the instruction completed (SIGTRAP from the int3 that follows it, or from
 * the 0xCC fill at a branch target); eip is then the address of that int3.
 */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

/* Case flag: the instruction itself raises #BP (int3 / int 3), so a SIGTRAP whose EIP is just
 * past the instruction is an exception, not completion. */
#define CF_SELF_TRAP 1

/* Context read by the trampoline through CS-relative addressing (DS may be anything). */
struct ctx {
  uint32_t regs[8];
  uint32_t eflags;
  uint32_t target;
  uint16_t es, ss, ds, fs, gs, pad; /* offsets 40 42 44 46 48 */
};
struct ctx g_ctx;

void trampoline(void);
__asm__(
    ".text\n"
    ".globl trampoline\n"
    "trampoline:\n"
    "  movw %cs:g_ctx+40, %es\n"
    "  movw %cs:g_ctx+46, %fs\n"
    "  movw %cs:g_ctx+48, %gs\n"
    "  pushl %cs:g_ctx+32\n"
    "  popfl\n"
    "  movw %cs:g_ctx+42, %ss\n"
    "  movl %cs:g_ctx+16, %esp\n"
    "  movw %cs:g_ctx+44, %ds\n"
    "  movl %cs:g_ctx+0, %eax\n"
    "  movl %cs:g_ctx+4, %ecx\n"
    "  movl %cs:g_ctx+8, %edx\n"
    "  movl %cs:g_ctx+12, %ebx\n"
    "  movl %cs:g_ctx+20, %ebp\n"
    "  movl %cs:g_ctx+24, %esi\n"
    "  movl %cs:g_ctx+28, %edi\n"
    "  jmp *%cs:g_ctx+36\n");

struct result {
  uint32_t regs[8], eip, eflags;
  uint16_t segs[6];
  int32_t trapno;
  uint32_t err, signo, cr2;
};

static sigjmp_buf g_env;
static struct result g_res;
static uint16_t g_native_gs, g_native_fs;
static uint32_t g_code_addr, g_code_size, g_data_addr, g_data_size;
static uint32_t g_sentinel; /* address of the int3 right after the instruction */
static int g_self_trap;

static void handler(int sig, siginfo_t *si, void *uctx) {
  /* Restore the TLS selector first: glibc's pointer mangling in siglongjmp reads %gs. */
  __asm__ volatile("movw %0, %%gs\n\tmovw %1, %%fs" : : "r"(g_native_gs), "r"(g_native_fs));
  ucontext_t *uc = (ucontext_t *)uctx;
  greg_t *g = uc->uc_mcontext.gregs;
  g_res.regs[0] = g[REG_EAX];
  g_res.regs[1] = g[REG_ECX];
  g_res.regs[2] = g[REG_EDX];
  g_res.regs[3] = g[REG_EBX];
  g_res.regs[4] = g[REG_UESP];
  g_res.regs[5] = g[REG_EBP];
  g_res.regs[6] = g[REG_ESI];
  g_res.regs[7] = g[REG_EDI];
  g_res.eip = g[REG_EIP];
  g_res.eflags = g[REG_EFL];
  g_res.segs[0] = g[REG_ES];
  g_res.segs[1] = g[REG_CS];
  g_res.segs[2] = g[REG_SS];
  g_res.segs[3] = g[REG_DS];
  g_res.segs[4] = g[REG_FS];
  g_res.segs[5] = g[REG_GS];
  g_res.trapno = g[REG_TRAPNO];
  g_res.err = g[REG_ERR];
  g_res.signo = sig;
  g_res.cr2 = uc->uc_mcontext.cr2;
  if (sig == SIGTRAP && g_res.trapno == 3) {
    uint32_t at = g_res.eip - 1;
    int self = g_self_trap && g_res.eip == g_sentinel - 1; /* the instruction's own int3 */
    if (!self && at >= g_code_addr && at < g_code_addr + g_code_size &&
        *(volatile uint8_t *)at == 0xCC) {
      g_res.trapno = -1;
      g_res.eip = at;
    }
  }
  if (sig == SIGALRM) g_res.trapno = -2; /* watchdog: the instruction did not finish */
  (void)si;
  siglongjmp(g_env, 1);
}

static void die(const char *m) {
  perror(m);
  exit(1);
}

static void rd(void *p, size_t n, FILE *f) {
  if (fread(p, 1, n, f) != n) {
    fprintf(stderr, "runner: truncated input\n");
    exit(1);
  }
}

static void wr(const void *p, size_t n, FILE *f) {
  if (fwrite(p, 1, n, f) != n) die("write");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: runner cases.bin results.bin\n");
    return 2;
  }
  FILE *in = fopen(argv[1], "rb");
  if (!in) die(argv[1]);
  FILE *out = fopen(argv[2], "wb");
  if (!out) die(argv[2]);
  char magic[4];
  uint32_t version, count;
  rd(magic, 4, in);
  if (memcmp(magic, "AGNC", 4)) {
    fprintf(stderr, "runner: bad magic\n");
    return 1;
  }
  rd(&version, 4, in);
  rd(&count, 4, in);
  rd(&g_code_addr, 4, in);
  rd(&g_code_size, 4, in);
  rd(&g_data_addr, 4, in);
  rd(&g_data_size, 4, in);
  uint8_t *pattern = malloc(g_data_size);
  rd(pattern, g_data_size, in);

  uint8_t *code = mmap((void *)g_code_addr, g_code_size, PROT_READ | PROT_WRITE | PROT_EXEC,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (code == MAP_FAILED) die("mmap code");
  uint8_t *data = mmap((void *)g_data_addr, g_data_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (data == MAP_FAILED) die("mmap data");
  uint8_t *initial = malloc(g_data_size);

  /* LDT entry 0 (selector 0x07): a 64 KiB data segment based at the data region, so 16-bit
   * addressing forms reach it. */
  struct user_desc d;
  memset(&d, 0, sizeof d);
  d.entry_number = 0;
  d.base_addr = g_data_addr;
  d.limit = 0xffff;
  d.seg_32bit = 1;
  d.useable = 1;
  if (syscall(SYS_modify_ldt, 1, &d, sizeof d) != 0) die("modify_ldt");

  uint16_t segs[6];
  __asm__ volatile("movw %%es,%0; movw %%cs,%1; movw %%ss,%2; movw %%ds,%3; movw %%fs,%4; movw %%gs,%5"
                   : "=m"(segs[0]), "=m"(segs[1]), "=m"(segs[2]), "=m"(segs[3]), "=m"(segs[4]),
                     "=m"(segs[5]));
  g_native_fs = segs[4];
  g_native_gs = segs[5];

  stack_t ss;
  ss.ss_sp = malloc(1 << 16);
  ss.ss_size = 1 << 16;
  ss.ss_flags = 0;
  if (sigaltstack(&ss, 0)) die("sigaltstack");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  int sigs[] = {SIGTRAP, SIGSEGV, SIGFPE, SIGILL, SIGBUS, SIGALRM};
  for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    if (sigaction(sigs[i], &sa, 0)) die("sigaction");

  wr("AGNR", 4, out);
  wr(&version, 4, out);
  wr(&count, 4, out);
  wr(segs, sizeof segs, out);

  for (uint32_t n = 0; n < count; n++) {
    uint8_t codeLen, flags;
    uint16_t nmem;
    uint8_t bytes[256];
    rd(&codeLen, 1, in);
    rd(&flags, 1, in);
    rd(&nmem, 2, in);
    rd(bytes, codeLen, in);
    rd(g_ctx.regs, 32, in);
    rd(&g_ctx.eflags, 4, in);
    uint16_t cs_segs[6];
    rd(cs_segs, 12, in);
    g_ctx.es = cs_segs[0];
    g_ctx.ss = cs_segs[2];
    g_ctx.ds = cs_segs[3];
    g_ctx.fs = cs_segs[4];
    g_ctx.gs = cs_segs[5];
    memcpy(data, pattern, g_data_size);
    for (uint16_t m = 0; m < nmem; m++) {
      uint32_t addr;
      uint16_t len;
      rd(&addr, 4, in);
      rd(&len, 2, in);
      if (addr < g_data_addr || addr + len > g_data_addr + g_data_size) {
        fprintf(stderr, "runner: case %u: memory override outside the data region\n", n);
        return 1;
      }
      rd(data + (addr - g_data_addr), len, in);
    }
    memcpy(initial, data, g_data_size);
    memset(code, 0xCC, g_code_size);
    /* The instruction sits in the middle of the code region so that backward branches land on
     * the 0xCC fill too. */
    uint32_t at = g_code_addr + g_code_size / 2;
    memcpy((void *)at, bytes, codeLen);
    g_ctx.target = at;
    g_sentinel = at + codeLen + 1;
    g_self_trap = flags & CF_SELF_TRAP;
    memset(&g_res, 0, sizeof g_res);
    struct itimerval watchdog = {{0, 0}, {0, 200000}}, off = {{0, 0}, {0, 0}};
    if (sigsetjmp(g_env, 1) == 0) {
      setitimer(ITIMER_REAL, &watchdog, 0);
      trampoline();
      fprintf(stderr, "runner: trampoline returned\n");
      return 1;
    }
    setitimer(ITIMER_REAL, &off, 0);
    /* Clear AC in case a POPF case set it (CR0.AM is on under Linux). */
    __asm__ volatile("pushfl; andl $~0x40000, (%%esp); popfl" ::: "cc", "memory");
    wr(&g_res, sizeof g_res, out);
    /* Changed runs of the data region. */
    uint32_t ndiff = 0;
    for (uint32_t i = 0; i < g_data_size;) {
      if (data[i] == initial[i]) { i++; continue; }
      uint32_t j = i;
      while (j < g_data_size && j - i < 0xffff && data[j] != initial[j]) j++;
      ndiff++;
      i = j;
    }
    wr(&ndiff, 4, out);
    for (uint32_t i = 0; i < g_data_size;) {
      if (data[i] == initial[i]) { i++; continue; }
      uint32_t j = i;
      while (j < g_data_size && j - i < 0xffff && data[j] != initial[j]) j++;
      uint32_t addr = g_data_addr + i;
      uint16_t len = j - i;
      wr(&addr, 4, out);
      wr(&len, 2, out);
      wr(data + i, len, out);
      i = j;
    }
  }
  fclose(out);
  return 0;
}
