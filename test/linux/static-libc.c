/* A C program for the Linux workload (test/linux/workload.sh), built by the boot test with
 * `gcc -m32 -static` on the host: Debian's i386 glibc starts with ENDBR32 in its startup code and
 * library functions, so the guest must run the hint-NOP space as any CPU without CET does. It
 * prints what libc computes (formatting, sorting, strings, setjmp, the heap, x87 through libm-free
 * arithmetic); the test compares it with the same binary run natively on the host CPU. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

static jmp_buf env;

static void jump(int n) { longjmp(env, n * 3); }

int main(void) {
  int v[64];
  unsigned x = 2463534242u;
  for (int i = 0; i < 64; i++) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    v[i] = (int)(x % 100000) - 50000;
  }
  qsort(v, 64, sizeof v[0], cmp);
  printf("libc qsort %d %d %d\n", v[0], v[31], v[63]);

  char buf[128];
  snprintf(buf, sizeof buf, "%08.3f|%-6s|%+d|%x|%e", 3.14159265358979, "ab", 42, 0xbeefu, 1.0 / 3.0);
  printf("libc snprintf %s len %zu\n", buf, strlen(buf));

  double s = 0;
  for (int k = 1; k <= 1000; k++) s += 1.0 / ((double)k * k);
  printf("libc basel %.15f strtod %.17g\n", s, strtod("2.718281828459045235", NULL));

  char *p = malloc(100000);
  memset(p, 'z', 99999);
  p[99999] = 0;
  printf("libc malloc %zu %s\n", strlen(p), strstr("hint-nop endbr32 space", "endbr") ? "found" : "missing");
  free(p);

  int r = setjmp(env);
  if (r == 0) jump(7);
  printf("libc setjmp %d\n", r);
  return 0;
}
