# The workload the Linux boot test runs in the guest and, with the same busybox, natively on the
# host: real silicon is the oracle. It runs in a scratch directory and prints only what must
# match byte for byte (no times, sizes of directories, owners or kernel details).
# Data: a deterministic pseudo-random stream from awk's own LCG arithmetic.
awk 'BEGIN { x = 12345; for (i = 0; i < 4000; i++) { x = (x * 1103515245 + 12345) % 2147483648; printf "%d %s %.6f\n", x % 100000, substr("abcdefghijklmnopqrstuvwxyz", x % 26 + 1, 3), x / 2147483648 } }' > data
seq 1 20000 > nums
echo "lines $(wc -l < data) words $(wc -w < data) bytes $(wc -c < data)"
echo "md5 $(md5sum < data)"
echo "sha1 $(sha1sum < data)"
echo "sha256 $(sha256sum < data)"
echo "sha512 $(sha512sum < nums)"
echo "sha3 $(sha3sum < nums)"
echo "crc32 $(crc32 < data)"
# Floating point: x87 arithmetic and its decimal conversions through awk.
awk 'BEGIN { x = 2; for (i = 0; i < 6; i++) x = (x + 2 / x) / 2; printf "sqrt2 %.17g\n", x }'
awk 'BEGIN { t = 1; s = 1; for (n = 1; n < 30; n++) { t *= 1 / n; s += t } printf "e %.17g %.6e %g\n", s, s * 1e-300, s / 3 }'
awk 'BEGIN { x = 0.5; t = x; s = x; for (n = 1; n < 20; n++) { t *= -x * x / ((2 * n) * (2 * n + 1)); s += t } printf "sin0.5 %.17g\n", s }'
awk 'BEGIN { h = 0; for (k = 1; k <= 20000; k++) h += 1 / k; printf "harmonic %.15g\n", h; printf "tiny %.17g huge %.17g\n", 1 / 3e300 / 7e10, 1.7e308 * 1.00000001 }'
awk '{ s += $3; if ($1 > m) m = $1 } END { printf "sum %.9f max %d mean %.12f\n", s, m, s / NR }' data
echo "bc $(echo 'scale=40; 4*a(1)' | bc -l)"
echo "dc $(echo '2 200 ^ p' | dc)"
# Sorting.
echo "sort-n $(sort -n data | md5sum)"
echo "sort-k $(sort -k2,2 -k1,1nr data | md5sum)"
echo "sort-u $(cut -d' ' -f2 data | sort -u | wc -l)"
echo "uniq $(cut -d' ' -f2 data | sort | uniq -c | sort -k1,1nr -k2 | head -3 | tr -s ' ' | tr '\n' ',')"
echo "rev-sort $(sort -rn nums | head -1) $(sort -n nums | tail -1)"
# Compression, both ways.
for z in gzip bzip2 lzop; do
  $z -c < data > data.z
  echo "$z $(wc -c < data.z) $(md5sum < data.z) $($z -dc < data.z | md5sum)"
done
echo "factor $(factor 600851475143 2147483647 1234567891011)"
# A C program built with gcc -m32 -static (test/linux/static-libc.c): glibc's code carries ENDBR32.
static-libc
