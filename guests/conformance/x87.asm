; Conformance kernel: the x87 FPU. Results are printed as 80-bit images (sign and exponent, a
; colon, the 64-bit significand) with the status word, from an FNSAVE image so that printing
; changes nothing. Arithmetic and FSQRT under every rounding and precision control; the
; constants under every rounding control; FRNDINT, FIST/FISTP and FBSTP under the rounding
; controls, with their overflow cases; FSCALE, FXTRACT, FPREM, FPREM1; the transcendentals on
; arguments whose results are exact, or easy to round; masked exceptions with their default
; results and flags; stack overflow and underflow; FXAM's classes; compares with NaNs; and
; unmasked exceptions delivered as #MF (CR0.NE) on the next waiting instruction, with the
; instruction and data pointers FNSTENV saves.
; Build: nasm -f bin -o x87.bin x87.asm

%ifdef HOST64
%include "hostlib64.inc"
%elifdef HOST
%include "hostlib.inc"
%else
%include "lib.inc"
%endif
%ifndef HOST64
; What hostlib64.inc defines for 64-bit mode: a routine's saved registers and stack arguments.
%macro SAVE_REGS 0
    pushad
%endmacro
%macro RESTORE_REGS 0
    popad
%endmacro
%define ARG(n) [esp + 32 + 4 * (n)]
%define ARGS_SIZE(n) (4 * (n))
%macro PUSH_ARG 1
    push dword %1
%endmacro
%macro FLAGS_TO_EAX 0
    pushfd
    pop eax
%endmacro
%endif

%ifdef HOST
section .bss
FPBUF:    resb 128
SCRATCH:  resb 256
section .text
%else
FPBUF     equ 0x30000                 ; FNSAVE image
SCRATCH   equ 0x30100
gdt_end:
%endif

; Status-word masks. C0, C2 and C3 are undefined after arithmetic. The transcendentals' microcode
; sets PE and C1 by its internal approximation even where the result is exact (F2XM1 of -1, FYL2X
; of a power of two), which no emulator reproduces bit for bit: those two are left out for them;
; C2 stays for the trigonometric ones (out of range).
SW_ARITH  equ 0xbaff
SW_TRANS  equ 0xb8df
SW_TRIG   equ 0xbcdf

; T80 exponent word, significand: an 80-bit value in memory.
%macro T80 2
    dq %2
    dw %1
%endmacro

; FCW rc, pc: control word with every exception masked. rc: 0 nearest, 1 down, 2 up, 3 chop;
; pc: 0 single, 2 double, 3 extended.
%define FCW(rc, pc) (0x7f | ((pc) << 8) | ((rc) << 10))

; DUMP n, mask: FNSAVE; prints the status word ANDed with mask and ST(0)..ST(n-1).
%macro DUMP 2
    PUSH_ARG %2
    PUSH_ARG %1
    call dump_fpu
%endmacro

; FPCASE "name", control word: a case that starts from FNINIT and the given control word.
%macro FPCASE 2
    CASE %1
    fninit
    mov word [SCRATCH], %2
    fldcw [SCRATCH]
%endmacro

; GRID "name", op, mask: `call op` under the 4 rounding x 3 precision controls, one case each,
; dumping ST(0).
%macro GRID 3
%assign rc 0
%rep 4
%assign pc 3
%rep 3
  %if rc == 0
    %define RCS "near"
  %elif rc == 1
    %define RCS "down"
  %elif rc == 2
    %define RCS "up"
  %else
    %define RCS "chop"
  %endif
  %if pc == 0
    %define PCS "24"
  %elif pc == 2
    %define PCS "53"
  %else
    %define PCS "64"
  %endif
  %strcat NAME %1, "/pc", PCS, "/", RCS
    FPCASE NAME, FCW(rc, pc)
    call %2
    DUMP 1, %3
    ENDCASE
  %if pc == 3
    %assign pc 2
  %else
    %assign pc 0
  %endif
%endrep
%assign rc rc + 1
%endrep
%endmacro

; ONE "name", control word, op, n, mask: `call op`, then dump n registers.
%macro ONE 5
    FPCASE %1, %2
    call %3
    DUMP %4, %5
    ENDCASE
%endmacro

; RC4 "name", op, n: ONE under each rounding control (extended precision).
%macro RC4 3
    ONE %strcat(%1, "/near"), FCW(0, 3), %2, %3, SW_ARITH
    ONE %strcat(%1, "/down"), FCW(1, 3), %2, %3, SW_ARITH
    ONE %strcat(%1, "/up"), FCW(2, 3), %2, %3, SW_ARITH
    ONE %strcat(%1, "/chop"), FCW(3, 3), %2, %3, SW_ARITH
%endmacro

; OP label, instructions...: an operation for the cases above, ending in RET.
%macro OP 1
%1:
%endmacro

CW_NEAR equ FCW(0, 3)

main:
    PUTS "conformance: x87", 10
%ifndef HOST
    ; The FPU reports through #MF: CR0.NE on, MP on, EM and TS off.
    mov eax, cr0
    or eax, 0x22
    and eax, ~0x0c
    mov cr0, eax
%endif

    ; ---- the basic operations under every rounding and precision control
    GRID "fdiv 1/3", op_div_1_3, SW_ARITH
    GRID "fdiv -2/3", op_div_m2_3, SW_ARITH
    GRID "fdivr 10/7", op_divr_10_7, SW_ARITH
    GRID "fmul (1/3)*3", op_mul_third_3, SW_ARITH
    GRID "fmul pi*log2(e)", op_mul_pi_l2e, SW_ARITH
    GRID "fadd 1+2^-70", op_add_tiny, SW_ARITH
    GRID "fsub 1-2^-70", op_sub_tiny, SW_ARITH
    GRID "fsub -1-2^-70", op_sub_neg_tiny, SW_ARITH
    GRID "fsqrt 2", op_sqrt_2, SW_ARITH
    GRID "fsqrt 1/3", op_sqrt_third, SW_ARITH
    GRID "fiadd 1/3+7", op_iadd, SW_ARITH
    GRID "fsub x-x", op_sub_self, SW_ARITH

    ; ---- constants: rounded by RC
    RC4 "fldpi", op_fldpi, 1
    RC4 "fldl2e", op_fldl2e, 1
    RC4 "fldl2t", op_fldl2t, 1
    RC4 "fldlg2", op_fldlg2, 1
    RC4 "fldln2", op_fldln2, 1
    ONE "fld1 fldz", CW_NEAR, op_fld1_fldz, 2, SW_ARITH

    ; ---- FRNDINT and the integer and BCD stores under RC
    RC4 "frndint 2.5", op_rnd_2_5, 1
    RC4 "frndint -2.5", op_rnd_m2_5, 1
    RC4 "frndint 3.5", op_rnd_3_5, 1
    RC4 "frndint -0.25", op_rnd_m0_25, 1
    RC4 "frndint 2^63+1", op_rnd_big, 1
    RC4 "fist word -2.5", op_fist_m2_5, 1
    RC4 "fistp dword 2.5", op_fistp_2_5, 0
    RC4 "fistp qword -(1e18+0.5)", op_fistp_q, 0
    RC4 "fist word 32767.5", op_fist_32767_5, 1
    ONE "fistp dword 1e10 invalid", CW_NEAR, op_fistp_1e10, 0, SW_ARITH
    ONE "fistp word nan invalid", CW_NEAR, op_fistp_nan, 0, SW_ARITH
    RC4 "fbstp 123456789.5", op_fbstp, 0
    ONE "fbstp -987654321012345678", CW_NEAR, op_fbstp_18, 0, SW_ARITH
    ONE "fbstp 1e18 invalid", CW_NEAR, op_fbstp_big, 0, SW_ARITH
    ONE "fbld -12345", CW_NEAR, op_fbld, 1, SW_ARITH

    ; ---- FSCALE, FXTRACT, FPREM, FPREM1
    ONE "fscale 1.5*2^10", CW_NEAR, op_scale, 2, SW_ARITH
    ONE "fscale 1*2^-3.7", CW_NEAR, op_scale_frac, 1, SW_ARITH
    ONE "fscale overflow", CW_NEAR, op_scale_over, 1, SW_ARITH
    ONE "fscale underflow", CW_NEAR, op_scale_under, 1, SW_ARITH
    ONE "fscale 0*2^inf invalid", CW_NEAR, op_scale_invalid, 1, SW_ARITH
    ONE "fxtract -12.5", CW_NEAR, op_xtract, 2, SW_ARITH
    ONE "fxtract 0", CW_NEAR, op_xtract_0, 2, SW_ARITH
    ONE "fprem 7 rem 2", CW_NEAR, op_prem_7_2, 2, 0xffff
    ONE "fprem -7 rem 2", CW_NEAR, op_prem_m7_2, 2, 0xffff
    ONE "fprem 10 rem 3", CW_NEAR, op_prem_10_3, 2, 0xffff
    ONE "fprem 13 rem -3", CW_NEAR, op_prem_13_m3, 2, 0xffff
    ONE "fprem1 7 rem 2", CW_NEAR, op_prem1_7_2, 2, 0xffff
    ONE "fprem1 10 rem 3", CW_NEAR, op_prem1_10_3, 2, 0xffff
    ONE "fprem1 11 rem 3", CW_NEAR, op_prem1_11_3, 2, 0xffff
    ONE "fprem 2^40 rem 3", CW_NEAR, op_prem_2p40, 2, 0xffff
    ONE "fprem 7 rem 0 invalid", CW_NEAR, op_prem_0, 2, 0xffff
    ONE "fprem inf rem 2 invalid", CW_NEAR, op_prem_inf, 2, 0xffff

    ; ---- transcendentals
    ONE "fptan 0", CW_NEAR, op_ptan_0, 2, SW_TRIG
    ONE "fptan 0.75", CW_NEAR, op_ptan_0_75, 2, SW_TRIG
    ONE "fsin 0", CW_NEAR, op_sin_0, 1, SW_TRIG
    ONE "fsin -0", CW_NEAR, op_sin_m0, 1, SW_TRIG
    ONE "fcos 0", CW_NEAR, op_cos_0, 1, SW_TRIG
    ONE "fsin 0.5", CW_NEAR, op_sin_0_5, 1, SW_TRIG
    ONE "fcos 0.5", CW_NEAR, op_cos_0_5, 1, SW_TRIG
    ONE "fsincos 1", CW_NEAR, op_sincos_1, 2, SW_TRIG
    ONE "fsin 2^62", CW_NEAR, op_sin_2p62, 1, SW_TRIG
    ONE "fsin 2^63 out of range", CW_NEAR, op_sin_2p63, 1, SW_TRIG
    ONE "fptan 2^63 out of range", CW_NEAR, op_ptan_2p63, 2, SW_TRIG
    ONE "fsin inf invalid", CW_NEAR, op_sin_inf, 1, SW_TRIG
    ONE "fpatan 1,1", CW_NEAR, op_patan_1_1, 1, SW_TRANS
    ONE "fpatan 1,0", CW_NEAR, op_patan_1_0, 1, SW_TRANS
    ONE "fpatan 0,-1", CW_NEAR, op_patan_0_m1, 1, SW_TRANS
    ONE "fpatan -0,-1", CW_NEAR, op_patan_m0_m1, 1, SW_TRANS
    ONE "fpatan 0.5,2", CW_NEAR, op_patan_0_5_2, 1, SW_TRANS
    ONE "f2xm1 0", CW_NEAR, op_f2xm1_0, 1, SW_TRANS
    ONE "f2xm1 1", CW_NEAR, op_f2xm1_1, 1, SW_TRANS
    ONE "f2xm1 -1", CW_NEAR, op_f2xm1_m1, 1, SW_TRANS
    ONE "f2xm1 0.5", CW_NEAR, op_f2xm1_0_5, 1, SW_TRANS
    ONE "f2xm1 -0.25", CW_NEAR, op_f2xm1_m0_25, 1, SW_TRANS
    ONE "f2xm1 2^-70", CW_NEAR, op_f2xm1_tiny, 1, SW_TRANS
    ONE "fyl2x 1*log2(8)", CW_NEAR, op_yl2x_8, 1, SW_TRANS
    ONE "fyl2x 3*log2(0.5)", CW_NEAR, op_yl2x_0_5, 1, SW_TRANS
    ONE "fyl2x 1*log2(10)", CW_NEAR, op_yl2x_10, 1, SW_TRANS
    ONE "fyl2x 1*log2(1)", CW_NEAR, op_yl2x_1, 1, SW_TRANS
    ONE "fyl2x log2(-1) invalid", CW_NEAR, op_yl2x_m1, 1, SW_TRANS
    ONE "fyl2x log2(0) divide-by-zero", CW_NEAR, op_yl2x_0, 1, SW_TRANS
    ONE "fyl2xp1 1*log2(1+0)", CW_NEAR, op_yl2xp1_0, 1, SW_TRANS
    ONE "fyl2xp1 1*log2(1+0.25)", CW_NEAR, op_yl2xp1_0_25, 1, SW_TRANS

    ; ---- masked exceptions: default results and flags
    ONE "divide 1/0", CW_NEAR, op_div_zero, 1, SW_ARITH
    ONE "divide -1/0", CW_NEAR, op_div_mzero, 1, SW_ARITH
    ONE "invalid 0/0", CW_NEAR, op_zero_zero, 1, SW_ARITH
    ONE "invalid inf-inf", CW_NEAR, op_inf_inf, 1, SW_ARITH
    ONE "invalid 0*inf", CW_NEAR, op_zero_inf, 1, SW_ARITH
    ONE "invalid sqrt(-1)", CW_NEAR, op_sqrt_m1, 1, SW_ARITH
    ONE "sqrt(-0)", CW_NEAR, op_sqrt_m0, 1, SW_ARITH
    ONE "overflow max+max", CW_NEAR, op_over, 1, SW_ARITH
    ONE "overflow max+max chop", FCW(3, 3), op_over, 1, SW_ARITH
    ONE "overflow max+max down", FCW(1, 3), op_over, 1, SW_ARITH
    ONE "overflow 2^400 pc24", FCW(0, 0), op_over_pc24, 1, SW_ARITH
    ONE "underflow min/2", CW_NEAR, op_under_exact, 1, SW_ARITH
    ONE "underflow min/3", CW_NEAR, op_under, 1, SW_ARITH
    ONE "denormal operand", CW_NEAR, op_denorm_add, 1, SW_ARITH
    ONE "denormal load single", CW_NEAR, op_denorm_single, 1, SW_ARITH
    ONE "denormal load double", CW_NEAR, op_denorm_double, 1, SW_ARITH
    ONE "pseudo-denormal operand", CW_NEAR, op_pseudo, 1, SW_ARITH
    ONE "unnormal operand invalid", CW_NEAR, op_unnormal, 1, SW_ARITH
    ONE "snan operand invalid", CW_NEAR, op_snan, 1, SW_ARITH
    ONE "qnan operand propagates", CW_NEAR, op_qnan, 1, SW_ARITH
    ONE "two qnans", CW_NEAR, op_two_nans, 1, SW_ARITH
    ONE "fst single up", FCW(2, 3), op_fst_single, 1, SW_ARITH
    ONE "fst double chop", FCW(3, 3), op_fst_double, 1, SW_ARITH
    ONE "fst single overflow", CW_NEAR, op_fst_single_over, 1, SW_ARITH
    ONE "fst single underflow", CW_NEAR, op_fst_single_under, 1, SW_ARITH
    ONE "fst single snan", CW_NEAR, op_fst_single_snan, 1, SW_ARITH

    ; ---- the stack: overflow, underflow, tags, FXAM, compares
    ONE "stack overflow", CW_NEAR, op_overflow, 8, SW_ARITH
    ONE "stack underflow", CW_NEAR, op_underflow, 1, SW_ARITH
    ONE "stack underflow fstp", CW_NEAR, op_underflow_fstp, 0, SW_ARITH
    ONE "ffree fincstp", CW_NEAR, op_ffree, 0, SW_ARITH
    ONE "fxam +0", CW_NEAR, op_xam_zero, 0, 0xffff
    ONE "fxam -1", CW_NEAR, op_xam_m1, 0, 0xffff
    ONE "fxam denormal", CW_NEAR, op_xam_denorm, 0, 0xffff
    ONE "fxam inf", CW_NEAR, op_xam_inf, 0, 0xffff
    ONE "fxam -nan", CW_NEAR, op_xam_mnan, 0, 0xffff
    ONE "fxam unnormal", CW_NEAR, op_xam_unnormal, 0, 0xffff
    ONE "fxam empty", CW_NEAR, op_xam_empty, 0, 0xffff
    ONE "fcom 1<2", CW_NEAR, op_com_lt, 0, 0xffff
    ONE "fcom 2>1", CW_NEAR, op_com_gt, 0, 0xffff
    ONE "fcom 1=1", CW_NEAR, op_com_eq, 0, 0xffff
    ONE "fcom qnan invalid", CW_NEAR, op_com_nan, 0, 0xffff
    ONE "fucom qnan", CW_NEAR, op_ucom_nan, 0, 0xffff
    ONE "fucom snan invalid", CW_NEAR, op_ucom_snan, 0, 0xffff
    ONE "fcomi 1<2", CW_NEAR, op_comi_lt, 0, 0xffff
    ONE "fucomi qnan", CW_NEAR, op_ucomi_nan, 0, 0xffff
    ONE "ftst -0", CW_NEAR, op_tst, 0, 0xffff

%ifndef HOST
    ; ---- unmasked exceptions: #MF at the next waiting instruction
    CASE "mf-zero-divide-at-fwait"
    mov dword [exc_hook], mf_hook
    fninit
    mov word [SCRATCH], 0x37b         ; ZE unmasked
    fldcw [SCRATCH]
    fld1
    fldz
    fdiv st1, st0
    fwait
    ENDCASE
    CASE "mf-invalid-at-next-fp-insn"
    mov dword [exc_hook], mf_hook
    fninit
    mov word [SCRATCH], 0x37e         ; IE unmasked
    fldcw [SCRATCH]
    fld1
    fchs
    fsqrt
    fld1
    ENDCASE
    CASE "mf-not-for-no-wait-insns"
    mov dword [exc_hook], mf_hook
    fninit
    mov word [SCRATCH], 0x37b
    fldcw [SCRATCH]
    fld1
    fldz
    fdiv st1, st0
    fnstsw ax
    fnstcw [SCRATCH + 2]
    fnclex
    fwait
    PHEX16 "sw", eax
    ENDCASE
    CASE "mf-unmasked-overflow"
    mov dword [exc_hook], mf_hook
    fninit
    mov word [SCRATCH], 0x377         ; OE unmasked
    fldcw [SCRATCH]
    fld tword [tmax]
    fadd st0, st0
    fstp tword [SCRATCH + 32]
    ENDCASE
    CASE "mf-unmasked-underflow"
    mov dword [exc_hook], mf_hook
    fninit
    mov word [SCRATCH], 0x36f         ; UE unmasked
    fldcw [SCRATCH]
    fld tword [tmin]
    fdiv qword [d3]
    fwait
    ENDCASE
    CASE "fnstenv-pointers"
    fninit
    fld1
    fdiv dword [f3]
    fnstenv [SCRATCH + 64]
    PHEX16 "fcw", [SCRATCH + 64]
    PHEX16 "fsw", [SCRATCH + 64 + 4]
    PHEX16 "ftw", [SCRATCH + 64 + 8]
    PHEX32 "fip", [SCRATCH + 64 + 12]
    PHEX32 "fcs-fop", [SCRATCH + 64 + 16]
    PHEX32 "fdp", [SCRATCH + 64 + 20]
    PHEX16 "fds", [SCRATCH + 64 + 24]
    ENDCASE
    CASE "nm-with-cr0-ts"
    mov eax, cr0
    or eax, 8
    mov cr0, eax
    fld1
    ENDCASE
    clts
    CASE "nm-fwait-with-mp-and-ts"
    mov eax, cr0
    or eax, 8
    mov cr0, eax
    fwait
    ENDCASE
    clts
    CASE "nm-with-cr0-em"
    mov eax, cr0
    or eax, 4
    mov cr0, eax
    fldz
    ENDCASE
    CASE "fwait-ignores-em"
    mov eax, cr0
    or eax, 4
    mov cr0, eax
    fwait
    ENDCASE
    mov eax, cr0
    and eax, ~4
    mov cr0, eax
%endif

    jmp finish

; ---------------------------------------------------------------------------------------------
; The operations

OP op_div_1_3
    fld1
    fdiv qword [d3]
    ret
OP op_div_m2_3
    fld qword [dm2]
    fdiv qword [d3]
    ret
OP op_divr_10_7
    fld tword [t7]
    fdivr qword [d10]
    ret
OP op_mul_third_3
    fld tword [third]
    fmul qword [d3]
    ret
OP op_mul_pi_l2e
    fldpi
    fldl2e
    fmulp st1, st0
    ret
OP op_add_tiny
    fld1
    fld tword [tiny70]
    faddp st1, st0
    ret
OP op_sub_tiny
    fld1
    fld tword [tiny70]
    fsubp st1, st0
    ret
OP op_sub_neg_tiny
    fld1
    fchs
    fld tword [tiny70]
    fsubp st1, st0
    ret
OP op_sqrt_2
    fld qword [d2]
    fsqrt
    ret
OP op_sqrt_third
    fld tword [third]
    fsqrt
    ret
OP op_iadd
    fld tword [third]
    fiadd dword [i7]
    ret
OP op_sub_self
    fld tword [third]
    fsub st0, st0
    ret

OP op_fldpi
    fldpi
    ret
OP op_fldl2e
    fldl2e
    ret
OP op_fldl2t
    fldl2t
    ret
OP op_fldlg2
    fldlg2
    ret
OP op_fldln2
    fldln2
    ret
OP op_fld1_fldz
    fld1
    fldz
    ret

OP op_rnd_2_5
    fld qword [d2_5]
    frndint
    ret
OP op_rnd_m2_5
    fld qword [dm2_5]
    frndint
    ret
OP op_rnd_3_5
    fld qword [d3_5]
    frndint
    ret
OP op_rnd_m0_25
    fld qword [dm0_25]
    frndint
    ret
OP op_rnd_big
    fld tword [big63]
    frndint
    ret
OP op_fist_m2_5
    fld qword [dm2_5]
    fist word [SCRATCH + 16]
    jmp print_word
OP op_fistp_2_5
    fld qword [d2_5]
    fistp dword [SCRATCH + 16]
    jmp print_dword
OP op_fistp_q
    fld tword [tbig18]
    fistp qword [SCRATCH + 16]
    jmp print_qword
OP op_fist_32767_5
    fld qword [d32767_5]
    fist word [SCRATCH + 16]
    jmp print_word
OP op_fistp_1e10
    fld qword [d1e10]
    fistp dword [SCRATCH + 16]
    jmp print_dword
OP op_fistp_nan
    fldz
    fdiv st0, st0
    fistp word [SCRATCH + 16]
    jmp print_word
OP op_fbstp
    fld tword [bcd_in]
    fbstp [SCRATCH + 16]
    jmp print_tword
OP op_fbstp_18
    fild qword [q18]
    fchs
    fbstp [SCRATCH + 16]
    jmp print_tword
OP op_fbstp_big
    fld qword [d1e18]
    fbstp [SCRATCH + 16]
    jmp print_tword
OP op_fbld
    fbld [bcd_m12345]
    ret

OP op_scale
    fld qword [d10]
    fld qword [d1_5]
    fscale
    ret
OP op_scale_frac
    fld qword [dm3_7]
    fld1
    fscale
    ret
OP op_scale_over
    fld qword [d20000]
    fld1
    fscale
    ret
OP op_scale_under
    fld qword [dm20000]
    fld1
    fscale
    ret
OP op_scale_invalid
    fld qword [dinf]
    fldz
    fscale
    ret
OP op_xtract
    fld qword [dm12_5]
    fxtract
    ret
OP op_xtract_0
    fldz
    fxtract
    ret
; PREM divisor, dividend, instruction
%macro PREM 4
OP %1
    fld qword [%2]
    fld qword [%3]
    %4
    ret
%endmacro
    PREM op_prem_7_2, d2, d7, fprem
    PREM op_prem_m7_2, d2, dm7, fprem
    PREM op_prem_10_3, d3, d10, fprem
    PREM op_prem_13_m3, dm3, d13, fprem
    PREM op_prem1_7_2, d2, d7, fprem1
    PREM op_prem1_10_3, d3, d10, fprem1
    PREM op_prem1_11_3, d3, d11, fprem1
    PREM op_prem_2p40, d3, d2p40, fprem
    PREM op_prem_0, dzero, d7, fprem
    PREM op_prem_inf, d2, dinf, fprem

OP op_ptan_0
    fldz
    fptan
    ret
OP op_ptan_0_75
    fld qword [d0_75]
    fptan
    ret
OP op_sin_0
    fldz
    fsin
    ret
OP op_sin_m0
    fldz
    fchs
    fsin
    ret
OP op_cos_0
    fldz
    fcos
    ret
OP op_sin_0_5
    fld qword [d0_5]
    fsin
    ret
OP op_cos_0_5
    fld qword [d0_5]
    fcos
    ret
OP op_sincos_1
    fld1
    fsincos
    ret
OP op_sin_2p62
    fld tword [t2p62]
    fsin
    ret
OP op_sin_2p63
    fld tword [t2p63]
    fsin
    ret
OP op_ptan_2p63
    fld tword [t2p63]
    fptan
    ret
OP op_sin_inf
    fld qword [dinf]
    fsin
    ret
; PATAN y, x (labels of doubles): ST(0) = atan(y / x)
%macro PATAN 3
OP %1
    fld qword [%2]
    fld qword [%3]
    fpatan
    ret
%endmacro
    PATAN op_patan_1_1, d1, d1
    PATAN op_patan_1_0, d1, dzero
    PATAN op_patan_0_m1, dzero, dm1
    PATAN op_patan_m0_m1, dmzero, dm1
    PATAN op_patan_0_5_2, d0_5, d2
%macro F2XM1 2
OP %1
    fld %2
    f2xm1
    ret
%endmacro
    F2XM1 op_f2xm1_0, qword [dzero]
    F2XM1 op_f2xm1_1, qword [d1]
    F2XM1 op_f2xm1_m1, qword [dm1]
    F2XM1 op_f2xm1_0_5, qword [d0_5]
    F2XM1 op_f2xm1_m0_25, qword [dm0_25]
    F2XM1 op_f2xm1_tiny, tword [tiny70]
; YL2X y, x: ST(0) = y * log2(x) (or log2(x + 1) for FYL2XP1)
%macro YL2X 4
OP %1
    fld qword [%2]
    fld qword [%3]
    %4
    ret
%endmacro
    YL2X op_yl2x_8, d1, d8, fyl2x
    YL2X op_yl2x_0_5, d3, d0_5, fyl2x
    YL2X op_yl2x_10, d1, d10, fyl2x
    YL2X op_yl2x_1, d1, d1, fyl2x
    YL2X op_yl2x_m1, d1, dm1, fyl2x
    YL2X op_yl2x_0, d1, dzero, fyl2x
    YL2X op_yl2xp1_0, d1, dzero, fyl2xp1
    YL2X op_yl2xp1_0_25, d1, d0_25, fyl2xp1

; BINOP label, a, b, instruction: ST(1) = a, ST(0) = b, then the instruction.
%macro BINOP 4
OP %1
    fld %2
    fld %3
    %4
    ret
%endmacro
    BINOP op_div_zero, qword [d1], qword [dzero], {fdivp st1, st0}
    BINOP op_div_mzero, qword [dm1], qword [dzero], {fdivp st1, st0}
    BINOP op_zero_zero, qword [dzero], qword [dzero], {fdivp st1, st0}
    BINOP op_inf_inf, qword [dinf], qword [dinf], {fsubp st1, st0}
    BINOP op_zero_inf, qword [dinf], qword [dzero], {fmulp st1, st0}
    BINOP op_denorm_add, tword [tdenorm], qword [d1], {faddp st1, st0}
    BINOP op_pseudo, tword [tpseudo], qword [d1], {faddp st1, st0}
    BINOP op_unnormal, tword [tunnormal], qword [d1], {faddp st1, st0}
    BINOP op_snan, tword [tsnan], qword [d1], {faddp st1, st0}
    BINOP op_qnan, tword [tqnan], qword [d1], {faddp st1, st0}
    BINOP op_two_nans, tword [tqnan], tword [tqnan2], {faddp st1, st0}
    BINOP op_com_lt, tword [t2], tword [t1], {fcom st1}
    BINOP op_com_gt, tword [t1], tword [t2], {fcom st1}
    BINOP op_com_eq, tword [t1], tword [t1], {fcom st1}
    BINOP op_com_nan, tword [t1], tword [tqnan], {fcom st1}
    BINOP op_ucom_nan, tword [t1], tword [tqnan], {fucom st1}
    BINOP op_ucom_snan, tword [t1], tword [tsnan], {fucom st1}
    BINOP op_comi_lt, tword [t2], tword [t1], {fcomi st0, st1}
    BINOP op_ucomi_nan, tword [t1], tword [tqnan], {fucomi st0, st1}
OP op_sqrt_m1
    fld qword [dm1]
    fsqrt
    ret
OP op_sqrt_m0
    fld qword [dmzero]
    fsqrt
    ret
OP op_over
    fld tword [tmax]
    fadd st0, st0
    ret
OP op_over_pc24
    fld tword [t2p200]
    fmul st0, st0
    ret
OP op_under_exact
    fld tword [tmin]
    fdiv qword [d2]
    ret
OP op_under
    fld tword [tmin]
    fdiv qword [d3]
    ret
OP op_denorm_single
    fld dword [sdenorm]
    ret
OP op_denorm_double
    fld qword [ddenorm]
    ret
OP op_fst_single
    fld tword [third]
    fst dword [SCRATCH + 16]
    jmp print_dword
OP op_fst_double
    fld tword [third]
    fst qword [SCRATCH + 16]
    jmp print_qword
OP op_fst_single_over
    fld qword [d1e300]
    fst dword [SCRATCH + 16]
    jmp print_dword
OP op_fst_single_under
    fld qword [d1em300]
    fst dword [SCRATCH + 16]
    jmp print_dword
OP op_fst_single_snan
    fld tword [tsnan]
    fst dword [SCRATCH + 16]
    jmp print_dword

OP op_overflow
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fld1
    fldpi
    ret
OP op_underflow
    fadd st0, st1
    ret
OP op_underflow_fstp
    fstp dword [SCRATCH + 16]
    jmp print_dword
OP op_ffree
    fld1
    fldpi
    ffree st1
    fincstp
    ret
; XAM label, load: FXAM of what the load pushed (the status word tells the class).
%macro XAM 2
OP %1
    %2
    fxam
    ret
%endmacro
    XAM op_xam_zero, fldz
    XAM op_xam_m1, {fld qword [dm1]}
    XAM op_xam_denorm, {fld tword [tdenorm]}
    XAM op_xam_inf, {fld qword [dinf]}
    XAM op_xam_mnan, {fld tword [tmqnan]}
    XAM op_xam_unnormal, {fld tword [tunnormal]}
OP op_xam_empty
    fld1
    ffree st0
    fxam
    ret
OP op_tst
    fld tword [tmzero]
    ftst
    ret

; ---------------------------------------------------------------------------------------------

; dump_fpu: ARG(1) registers to print, ARG(2) status-word mask. FNSAVE keeps the state from
; changing while it is printed (and reinitialises the FPU).
dump_fpu:
    SAVE_REGS
    fnsave [FPBUF]
    movzx eax, word [FPBUF + 4]
    and eax, ARG(2)
    PHEX16 "sw", eax
    mov ebp, ARG(1)
    mov esi, FPBUF + 28
    xor ebx, ebx
.reg:
    test ebp, ebp
    jz .done
    mov al, ' '
    call putc
    mov al, 's'
    call putc
    mov al, 't'
    call putc
    mov al, '0'
    add al, bl
    call putc
    mov al, '='
    call putc
    movzx eax, word [esi + 8]
    mov ecx, 4
    call puthex
    mov al, ':'
    call putc
    mov eax, [esi + 4]
    mov ecx, 8
    call puthex
    mov eax, [esi]
    call puthex
    add esi, 10
    inc ebx
    dec ebp
    jmp .reg
.done:
    RESTORE_REGS
    ret ARGS_SIZE(2)

; The integer and BCD stores' results at SCRATCH+16.
print_word:
    PHEX16 "m", [SCRATCH + 16]
    ret
print_dword:
    PHEX32 "m", [SCRATCH + 16]
    ret
print_qword:
    PHEX32 "m-hi", [SCRATCH + 20]
    PHEX32 "m-lo", [SCRATCH + 16]
    ret
print_tword:
    PHEX16 "m-hi", [SCRATCH + 24]
    PHEX32 "m-mid", [SCRATCH + 20]
    PHEX32 "m-lo", [SCRATCH + 16]
    ret

; ZF, PF and CF after FCOMI.
print_flags:
    FLAGS_TO_EAX
    and eax, 0x8d5
    PHEX16 "eflags", eax
    ret

%ifndef HOST
; A hook for #MF: the status word then, and ST(0) as the handler finds it.
mf_hook:
    fnstsw ax
    PHEX16 "sw", eax
    fnstcw [SCRATCH + 4]
    PHEX16 "cw", [SCRATCH + 4]
    fnsave [FPBUF]
    PHEX16 "st0-exp", [FPBUF + 28 + 8]
    PHEX32 "st0-hi", [FPBUF + 28 + 4]
    PHEX32 "fip", [FPBUF + 12]
    jmp recover
%endif

align 8
d1:      dq 1.0
dm1:     dq -1.0
dmzero:  dq -0.0
d2:      dq 2.0
d3:      dq 3.0
dm3:     dq -3.0
dm2:     dq -2.0
d7:      dq 7.0
dm7:     dq -7.0
d8:      dq 8.0
d10:     dq 10.0
d11:     dq 11.0
d13:     dq 13.0
d0_5:    dq 0.5
d0_25:   dq 0.25
dm0_25:  dq -0.25
d0_75:   dq 0.75
d1_5:    dq 1.5
d2_5:    dq 2.5
dm2_5:   dq -2.5
d3_5:    dq 3.5
dm3_7:   dq -3.7
dm12_5:  dq -12.5
d32767_5: dq 32767.5
d1e10:   dq 1.0e10
d1e18:   dq 1.0e18
d1e300:  dq 1.0e300
d1em300: dq 1.0e-300
d20000:  dq 20000.0
dm20000: dq -20000.0
d2p40:   dq 1099511627776.0
dzero:   dq 0.0
dinf:    dq __?Infinity?__
ddenorm: dq 0x000fffffffffffff
sdenorm: dd 0x00000001
f3:      dd 3.0
i7:      dd 7
q18:     dq 987654321012345678
t1:      T80 0x3fff, 0x8000000000000000
t2:      T80 0x4000, 0x8000000000000000
t7:      T80 0x4001, 0xe000000000000000
tmzero:  T80 0x8000, 0
third:   T80 0x3ffd, 0xaaaaaaaaaaaaaaab
tiny70:  T80 0x3fff - 70, 0x8000000000000000
big63:   T80 0x403e, 0x8000000000000001   ; 2^63 + 1
tbig18:  T80 0xc03a, 0xde0b6b3a76400008   ; -(1e18 + 0.5)
t2p62:   T80 0x403d, 0x8000000000000000
t2p63:   T80 0x403e, 0x8000000000000000
t2p200:  T80 0x3fff + 200, 0x8000000000000000   ; squared: 2^400, beyond single range
tmax:    T80 0x7ffe, 0xffffffffffffffff
tmin:    T80 0x0001, 0x8000000000000000
tdenorm: T80 0x0000, 0x4000000000000000
tpseudo: T80 0x0000, 0x8000000000000001
tunnormal: T80 0x4000, 0x4000000000000000
tsnan:   T80 0x7fff, 0xa000000000000000
tqnan:   T80 0x7fff, 0xc000000000000001
tqnan2:  T80 0x7fff, 0xd000000000000000
tmqnan:  T80 0xffff, 0xc000000000000001
bcd_in:  T80 0x4019, 0xeb79a2b000000000   ; 123456789.5
bcd_m12345: db 0x45, 0x23, 0x01, 0, 0, 0, 0, 0, 0, 0x80
