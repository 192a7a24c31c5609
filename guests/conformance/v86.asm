; Conformance kernel: virtual-8086 mode on a processor without VME (SDM vol. 3, chapter 20; the
; IRET, INT n, PUSHF, POPF, CLI, STI, IN/OUT Operation sections). IRETD from ring 0 into VM = 1
; and what it loads; real-mode-style segments at CPL 3 with their 64 KiB limits; interrupts and
; exceptions out of virtual-8086 mode through 32-bit and 16-bit gates, the ring-0 frame with ES,
; DS, FS and GS and the null data segments the handler finds, and the targets a gate may not
; have; the IOPL-sensitive instructions below and at IOPL 3; the I/O permission bitmap, which
; applies whatever the IOPL; INT3 and INTO; the instructions virtual-8086 mode does not have
; (#UD) or may not use (#GP); user-mode paging; a task switch into and out of a virtual-8086 task.
; Build: nasm -f bin -o v86.bin v86.asm
;
; Virtual-8086 code runs with CS = 0 and IP = its linear address (this kernel stays below 64 KiB),
; so INT3, whose gate here goes to lib.inc's to_ring0 (DPL 3: INT3 is not IOPL-sensitive), comes
; back to ring 0 at the next instruction, which is assembled for 32 bits again. A case that ends
; in an exception in virtual-8086 mode has `bits 32` before its ENDCASE. The virtual-8086 stack is
; V86_SS:V86_SP, its data V86_DS.

%include "lib.inc"

V86_SS    equ 0x6000
V86_SP    equ 0xfff0
V86_DS    equ 0x5000
TSS_IO    equ 0x24000                 ; a TSS with an I/O bitmap
TSS_VM    equ 0x25000                 ; a task that runs in virtual-8086 mode
PD        equ 0x30000                 ; paging for the user/supervisor case
PT        equ 0x31000
SUPER     equ 0x52000                 ; the supervisor page in that map
IOPL3     equ 0x3000
VM_FLAG   equ 0x20000

SEL_CONF  equ $ - gdt                 ; conforming code, DPL 0
    DESC 0, 0xfffff, 0x9e, 0xc
SEL_R1C   equ $ - gdt                 ; code, DPL 1
    DESC 0, 0xfffff, 0xba, 0xc
SEL_TSSIO equ $ - gdt                 ; TSS_IO: its bitmap allows COM1 and port 0x80 only
    DESC TSS_IO, 0x68 + 0x80, 0x89, 0
SEL_TVM   equ $ - gdt                 ; TSS_VM
    DESC TSS_VM, 0x67, 0x89, 0
gdt_end:

; TO_V86 eflags: IRETD to the next instruction in virtual-8086 mode, CS = 0, SS:SP = V86_SS:V86_SP,
; DS = ES = V86_DS, FS = GS = 0, with the EFLAGS given (VM added).
%macro TO_V86 1
    push dword 0
    push dword 0
    push dword V86_DS
    push dword V86_DS
    push dword V86_SS
    push dword V86_SP
    push dword (%1) | VM_FLAG | 2
    push dword 0
    push dword %%v86
    iret
bits 16
%%v86:
%endmacro

; BACK: from virtual-8086 mode back to ring 0 (INT3 to lib.inc's to_ring0), 32-bit code after.
%macro BACK 0
    int3
bits 32
%endmacro

; V86CASE "name", eflags, {instruction}: the instruction in virtual-8086 mode with that EFLAGS.
%macro V86CASE 3
    CASE %1
    TO_V86 %2
    %3
    BACK
    ENDCASE
%endmacro

main:
    PUTS "conformance: v86", 10
    call v86_gates
    call make_io_tss
    ; Data the virtual-8086 cases read.
    mov dword [V86_DS * 16], 0x11223344
    mov dword [V86_DS * 16 + 0xfffc], 0x55667788
    mov dword [0x12340], 0x99aabbcc
    mov dword [0x10000], 0x06000010   ; a far pointer for LDS: 0600:0010

    ; ---- IRETD from ring 0 into virtual-8086 mode
    CASE "iretd-enters-v86"
    TO_V86 IOPL3 | 0x8d5             ; IOPL 3, OF SF ZF AF PF CF
    mov ax, cs
    mov bx, ds
    mov cx, es
    mov dx, ss
    mov si, fs
    mov di, gs
    mov bp, sp
    pushf
    BACK
    PHEX16 "cs", eax
    PHEX16 "ds", ebx
    PHEX16 "es", ecx
    PHEX16 "ss", edx
    PHEX16 "fs", esi
    PHEX16 "gs", edi
    PHEX16 "sp", ebp
    PHEX16 "flags", [V86_SS * 16 + V86_SP - 2]
    ENDCASE
    CASE "iretd-to-v86-loads-every-flag"
    TO_V86 IOPL3 | 0x40000 | 0x200   ; AC and IF
    o32 pushf
    BACK
    PHEX32 "eflags-image", [V86_SS * 16 + V86_SP - 4]
    ENDCASE
    CASE "iretd-to-v86-keeps-esp-upper-half"
    push dword 0
    push dword 0
    push dword V86_DS
    push dword V86_DS
    push dword V86_SS
    push dword 0x1234fff0
    push dword VM_FLAG | IOPL3 | 2
    push dword 0
    push dword %$v86
    iret
bits 16
%$v86:
    push ax
    mov ebp, esp
    BACK
    PHEX32 "esp", ebp
    ENDCASE
    CASE "gp-iretd-to-v86-eip-beyond-64k"
    call halt_pad
    push dword 0
    push dword 0
    push dword V86_DS
    push dword V86_DS
    push dword V86_SS
    push dword V86_SP
    push dword VM_FLAG | IOPL3 | 2
    push dword ABS(v86_halt) >> 4
    push dword 0x10000
    iret
    ENDCASE

    ; ---- segments at CPL 3, the real-mode way
    CASE "v86-segment-loads-are-real-style"
    TO_V86 IOPL3
    mov ax, 0x1234
    mov es, ax
    mov ebx, [es:0]
    mov ax, 0x1000
    mov ds, ax
    lds si, [0]                       ; DS:SI from linear 0x10000
    mov ax, ds
    mov cx, si
    BACK
    PHEX32 "es0", ebx
    PHEX16 "lds-ds", eax
    PHEX16 "lds-si", ecx
    ENDCASE
    CASE "v86-reads-up-to-offset-ffff"
    TO_V86 IOPL3
    mov ebx, [0xfffc]
    BACK
    PHEX32 "ds-fffc", ebx
    ENDCASE
    V86CASE "gp-v86-word-past-ffff", IOPL3, {mov ax, [0xffff]}
    V86CASE "gp-v86-a32-offset-beyond-64k", IOPL3, {mov eax, [dword 0x10000]}
    CASE "ss-v86-push-word-at-ffff"
    TO_V86 IOPL3
    mov sp, 1
    push ax                           ; SP wraps to 0xffff: the word there crosses the limit
    BACK
    ENDCASE
    CASE "v86-far-call-and-retf"
    TO_V86 IOPL3
    call 0x0100:(v86_far - 0x1000)
    BACK
    PHEX16 "ax", eax
    PHEX16 "bx", ebx
    ENDCASE
    CASE "v86-cs-override-write"
    TO_V86 IOPL3
    mov word [cs:v86_scratch], 0x7777
    mov bx, [cs:v86_scratch]
    BACK
    PHEX16 "bx", ebx
    ENDCASE

    ; ---- interrupts and exceptions out of virtual-8086 mode
    CASE "v86-int-through-32-bit-interrupt-gate"
    TO_V86 IOPL3 | 0x200
    mov ax, 0x2222
    mov fs, ax
    mov ax, 0x3333
    mov gs, ax
    int 0x33
bits 32
    ENDCASE
    CASE "v86-int-through-trap-gate-keeps-if"
    TO_V86 IOPL3 | 0x200
    int 0x34
bits 32
    ENDCASE
    CASE "v86-int-through-16-bit-gate"
    TO_V86 IOPL3
    mov ax, 0x2222
    mov fs, ax
    int 0x39
bits 32
    ENDCASE
    CASE "v86-int-and-iretd-back"
    TO_V86 IOPL3
    mov ax, 0x4444
    mov fs, ax
    mov ax, 0x41
    int 0x35
    int 0x35
    mov bx, fs
    mov cx, ds
    BACK
    PHEX16 "ax", eax
    PHEX16 "fs", ebx
    PHEX16 "ds", ecx
    ENDCASE
    CASE "v86-exception-frame"
    mov dword [exc_hook], v86_hook
    TO_V86 IOPL3
    mov ax, 0x0777
    mov gs, ax
    xor dx, dx
    xor cx, cx
    div cx
bits 32
    ENDCASE
    CASE "v86-gp-frame-has-error-code"
    mov dword [exc_hook], v86_hook
    TO_V86 0
    cli
bits 32
    ENDCASE
    V86CASE "gp-v86-int-to-dpl3-code", IOPL3, {int 0x36}
    V86CASE "gp-v86-int-to-conforming-code", IOPL3, {int 0x37}
    V86CASE "gp-v86-int-to-ring1", IOPL3, {int 0x38}
    V86CASE "gp-v86-int-dpl0-gate", IOPL3, {int 0x20}
    V86CASE "gp-v86-int-empty-gate", IOPL3, {int 0x50}
    CASE "df-v86-exception-to-dpl3-code"
    SETGATE 0, UCODE, v86_frame, 0x8e00
    TO_V86 IOPL3
    xor dx, dx
    xor cx, cx
    div cx
bits 32
    ENDCASE
    call reset_idt
    call v86_gates

    ; ---- the IOPL-sensitive instructions
    V86CASE "gp-v86-cli-iopl0", 0, {cli}
    V86CASE "gp-v86-cli-iopl1", 0x1000, {cli}
    V86CASE "gp-v86-cli-iopl2", 0x2000, {cli}
    V86CASE "gp-v86-sti-iopl0", 0, {sti}
    V86CASE "gp-v86-pushf-iopl0", 0, {pushf}
    V86CASE "gp-v86-pushfd-iopl2", 0x2000, {o32 pushf}
    V86CASE "gp-v86-popf-iopl0", 0, {popf}
    V86CASE "gp-v86-popfd-iopl1", 0x1000, {o32 popf}
    V86CASE "gp-v86-int-n-iopl0", 0, {int 0x33}
    V86CASE "gp-v86-iret-iopl0", 0, {iret}
    V86CASE "gp-v86-iretd-iopl2", 0x2000, {o32 iret}
    CASE "v86-cli-sti-iopl3"
    TO_V86 IOPL3 | 0x200
    cli
    pushf
    pop bx
    sti
    pushf
    pop cx
    BACK
    PHEX16 "after-cli", ebx
    PHEX16 "after-sti", ecx
    ENDCASE
    CASE "v86-pushfd-clears-vm-and-rf-in-image"
    TO_V86 IOPL3 | 0x10000            ; RF
    o32 pushf
    pop ebx
    BACK
    PHEX32 "image", ebx
    ENDCASE
    CASE "v86-popf-keeps-iopl"
    TO_V86 IOPL3
    push word 0x0cd5                  ; IOPL 0 in the image, OF DF SF AF PF CF
    popf
    pushf
    pop bx
    BACK
    PHEX16 "flags", ebx
    ENDCASE
    CASE "v86-popfd-keeps-iopl-vm-vif-vip"
    TO_V86 IOPL3
    push dword 0x001c0ad5             ; VIP VIF AC, IOPL 0, VM clear
    o32 popf
    o32 pushf
    pop ebx
    mov cx, cs
    BACK
    PHEX32 "image", ebx
    PHEX16 "cs", ecx
    ENDCASE
    CASE "v86-iret16-stays-in-v86"
    TO_V86 IOPL3
    push word 0x0cd5                  ; IOPL 0 in the image
    push word 0x0100
    push word (%$next - 0x1000)
    iret
%$next:
    pushf
    pop bx
    mov cx, cs
    jmp 0:%$cs0                       ; BACK wants CS = 0
%$cs0:
    BACK
    PHEX16 "flags", ebx
    PHEX16 "cs", ecx
    ENDCASE
    CASE "v86-iretd-keeps-iopl-and-vm"
    TO_V86 IOPL3
    push dword 0x00010cd5             ; RF, IOPL 0, VM clear
    push dword 0
    push dword %$next
    o32 iret
%$next:
    o32 pushf
    pop ebx
    BACK
    PHEX32 "image", ebx
    ENDCASE
    CASE "gp-v86-iretd-eip-beyond-64k"
    call halt_pad
    TO_V86 IOPL3
    push dword 2
    push dword ABS(v86_halt) >> 4
    push dword 0x10000
    o32 iret
    BACK
    ENDCASE

    ; ---- INT3, INTO and INT1: not IOPL-sensitive
    CASE "gp-v86-int3-dpl0-gate-at-iopl0"
    SETGATE 3, KCODE, v86_frame, 0x8e00
    TO_V86 0
    int3
bits 32
    ENDCASE
    CASE "v86-int3-dpl3-gate-at-iopl0"
    SETGATE 3, KCODE, v86_frame, 0xee00
    TO_V86 0
    int3
bits 32
    ENDCASE
    CASE "v86-into-dpl3-gate-at-iopl0"
    SETGATE 4, KCODE, v86_frame, 0xee00
    TO_V86 0
    mov al, 0x7f
    inc al
    into
bits 32
    ENDCASE
    CASE "v86-int-cd03-is-iopl-sensitive"
    TO_V86 0
    db 0xcd, 3                        ; INT 3 in its two-byte form: INT n, not INT3
bits 32
    ENDCASE
    call reset_idt
    call v86_gates

    ; ---- the I/O permission bitmap
    CASE "v86-io-bitmap-allows-port"
    mov ax, SEL_TSSIO
    call use_tss
    TO_V86 0
    mov al, 0x5a
    out 0x80, al
    mov dx, COM1 + 7
    mov al, 0xa5
    out dx, al
    in al, dx
    mov bl, al
    BACK
    PHEX8 "scratch", ebx
    ENDCASE
    CASE "gp-v86-io-bitmap-denies-port-at-iopl3"
    mov ax, SEL_TSSIO
    call use_tss
    TO_V86 IOPL3
    in al, 0x61
    BACK
    ENDCASE
    CASE "gp-v86-io-bitmap-word-straddles"
    mov ax, SEL_TSSIO
    call use_tss
    TO_V86 IOPL3
    mov dx, COM1 + 7
    in ax, dx
    BACK
    ENDCASE
    CASE "gp-v86-io-without-bitmap"
    mov ax, TSS_SEL
    call use_tss
    TO_V86 IOPL3
    out 0x80, al
    BACK
    ENDCASE
    CASE "gp-v86-outsb-bitmap"
    mov ax, SEL_TSSIO
    call use_tss
    TO_V86 IOPL3
    mov dx, 0x81
    xor si, si
    outsb
    BACK
    ENDCASE
    CASE "v86-rep-outsb-allowed"
    mov ax, SEL_TSSIO
    call use_tss
    TO_V86 0
    mov dx, 0x80
    mov si, 0xfffc
    mov cx, 4
    rep outsb
    mov bx, si
    BACK
    PHEX16 "si", ebx
    PHEX16 "cx", ecx
    ENDCASE
    mov ax, TSS_SEL
    call use_tss

    ; ---- instructions virtual-8086 mode does not have, or may not use
    V86CASE "ud-v86-lar", IOPL3, {lar ax, bx}
    V86CASE "ud-v86-lsl", IOPL3, {lsl ax, bx}
    V86CASE "ud-v86-verr", IOPL3, {verr bx}
    V86CASE "ud-v86-verw", IOPL3, {verw bx}
    V86CASE "ud-v86-arpl", IOPL3, {arpl bx, ax}
    V86CASE "ud-v86-sldt", IOPL3, {sldt ax}
    V86CASE "ud-v86-str", IOPL3, {str ax}
    V86CASE "ud-v86-lldt", IOPL3, {lldt ax}
    V86CASE "ud-v86-ltr", IOPL3, {ltr ax}
    V86CASE "gp-v86-hlt", IOPL3, {hlt}
    V86CASE "gp-v86-lgdt", IOPL3, {lgdt [0]}
    V86CASE "gp-v86-lidt", IOPL3, {lidt [0]}
    V86CASE "gp-v86-lmsw", IOPL3, {lmsw ax}
    V86CASE "gp-v86-clts", IOPL3, {clts}
    V86CASE "gp-v86-mov-from-cr0", IOPL3, {mov eax, cr0}
    V86CASE "gp-v86-mov-to-cr3", IOPL3, {mov cr3, eax}
    V86CASE "gp-v86-mov-from-dr7", IOPL3, {mov eax, dr7}
    V86CASE "gp-v86-invd", IOPL3, {invd}
    V86CASE "gp-v86-wbinvd", IOPL3, {wbinvd}
    V86CASE "gp-v86-invlpg", IOPL3, {invlpg [0]}
    V86CASE "gp-v86-rdmsr", IOPL3, {rdmsr}
    V86CASE "gp-v86-wrmsr", IOPL3, {wrmsr}
    V86CASE "gp-v86-rdpmc", IOPL3, {rdpmc}
    V86CASE "gp-v86-sysexit", IOPL3, {sysexit}
    CASE "v86-smsw-sgdt-cpuid-allowed"
    TO_V86 IOPL3
    smsw bx
    sgdt [0x100]
    xor eax, eax
    cpuid
    mov ebp, ebx
    smsw bx
    BACK
    PHEX16 "msw", ebx
    PHEX16 "gdt-limit", [V86_DS * 16 + 0x100]
    PHEX32 "vendor", ebp
    ENDCASE

    ; ---- paging: virtual-8086 mode is CPL 3
    CASE "pf-v86-read-of-supervisor-page"
    call paging_on
    TO_V86 IOPL3
    mov ax, SUPER >> 4
    mov ds, ax
    mov ax, [0]
    BACK
    ENDCASE
    call paging_off
    CASE "v86-reads-user-page"
    call paging_on
    TO_V86 IOPL3
    mov ebx, [0xfffc]
    BACK
    PHEX32 "v", ebx
    ENDCASE
    call paging_off

    ; ---- task switches and virtual-8086 mode
    CASE "call-tss-into-v86-task"
    call init_vm_task
    mov dword [exc_hook], vm_task_hook
    call SEL_TVM:0
    ENDCASE
    mov byte [gdt + SEL_TVM + 5], 0x89
    mov ax, TSS_SEL
    call use_tss

    jmp finish

; ---------------------------------------------------------------------------------------------

; v86_frame: an interrupt from virtual-8086 mode as its ring-0 handler finds it: the data segment
; registers (null), then the frame: EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS.
v86_frame:
    PSEG "ds0", ds
    PSEG "es0", es
    PSEG "fs0", fs
    PSEG "gs0", gs
    push eax
    pushfd
    pop eax
    PHEX32 "eflags0", eax
    mov eax, esp
    add eax, 4
    PHEX32 "esp0", eax
    pop eax
    PHEX16 "ip", [esp]
    PHEX16 "cs", [esp + 4]
    PHEX32 "eflags", [esp + 8]
    PHEX16 "sp", [esp + 12]
    PHEX16 "ss", [esp + 16]
    PHEX16 "es", [esp + 20]
    PHEX16 "ds", [esp + 24]
    PHEX16 "fs", [esp + 28]
    PHEX16 "gs", [esp + 32]
    jmp recover

; v86_frame16: the same through a 16-bit gate: a frame of words.
v86_frame16:
    PSEG "ds0", ds
    PSEG "fs0", fs
    push eax
    mov eax, esp
    add eax, 4
    PHEX32 "esp0", eax
    pop eax
    PHEX16 "ip", [esp]
    PHEX16 "cs", [esp + 2]
    PHEX16 "flags", [esp + 4]
    PHEX16 "sp", [esp + 6]
    PHEX16 "ss", [esp + 8]
    PHEX16 "es", [esp + 10]
    PHEX16 "ds", [esp + 12]
    PHEX16 "fs", [esp + 14]
    PHEX16 "gs", [esp + 16]
    jmp recover

; int 0x35: AX + 1, and back to where the interrupt came from.
v86_inc_ax:
    inc eax
    iret

; An exception hook: the rest of a virtual-8086 exception frame (after EIP and CS, printed).
v86_hook:
    lea ebx, [esp + FRAME + 8]        ; the saved EIP
    PSEG "fs0", fs
    PSEG "gs0", gs
    PHEX32 "eflags", [ebx + 8]
    PHEX16 "sp", [ebx + 12]
    PHEX16 "ss", [ebx + 16]
    PHEX16 "es", [ebx + 20]
    PHEX16 "ds", [ebx + 24]
    PHEX16 "fs", [ebx + 28]
    PHEX16 "gs", [ebx + 32]
    jmp recover

; The virtual-8086 task's #GP: its registers and the link its TSS holds.
vm_task_hook:
    PHEX32 "eax", [esp + 28]
    PHEX16 "ds", [esp + 16]
    PHEX16 "fs", [esp + 24]
    PHEX16 "gs", [esp + 20]
    PHEX32 "eflags", [esp + FRAME + 16]
    PHEX16 "link", [TSS_VM]
    str eax
    PHEX16 "tr", eax
    jmp recover

; halt_pad: a HLT at 64 KiB past v86_halt as well, for a CPU that does not check IRET's EIP
; against the 64 KiB limit (whether it wraps the offset or not, the next instruction faults).
halt_pad:
    mov byte [ABS(v86_halt) + 0x10000], 0xf4
    ret

; v86_gates: the gates of this kernel, on top of reset_idt's. INT3: DPL 3 gate to to_ring0 (see
; BACK). int 0x33 / 0x34: DPL 3 interrupt and trap gates to `v86_frame`. int 0x35: DPL 3 gate to
; ring-0 code that adds 1 to AX and returns (IRETD) to where it came from. int 0x36: to DPL 3
; code; 0x37: to conforming code; 0x38: to ring 1; 0x39: a 16-bit gate.
v86_gates:
    pushad
    mov ebx, 3
    mov eax, to_ring0
    mov ecx, 0xee00
    call set_gate
    mov ebx, 0x33
    mov eax, v86_frame
    mov ecx, 0xee00
    call set_gate
    mov ebx, 0x34
    mov eax, v86_frame
    mov ecx, 0xef00
    call set_gate
    mov ebx, 0x35
    mov eax, v86_inc_ax
    mov ecx, 0xee00
    call set_gate
    SETGATE 0x36, UCODE, v86_frame, 0xee00
    SETGATE 0x37, SEL_CONF, v86_frame, 0xee00
    SETGATE 0x38, SEL_R1C, v86_frame, 0xee00
    SETGATE 0x39, KCODE, v86_frame16, 0xe600
    popad
    ret

; TSS_IO: the kernel's ring-0 stack; its bitmap allows only COM1's ports and port 0x80.
make_io_tss:
    mov edi, TSS_IO
    xor eax, eax
    mov ecx, 0x68
    rep stosb
    mov dword [TSS_IO + 4], ESP0
    mov dword [TSS_IO + 8], KDATA
    mov word [TSS_IO + 0x66], 0x68
    mov edi, TSS_IO + 0x68
    mov al, 0xff
    mov ecx, 0x81
    rep stosb
    mov byte [TSS_IO + 0x68 + (COM1 >> 3)], 0
    mov byte [TSS_IO + 0x68 + (0x80 >> 3)], 0xfe
    ret

; use_tss: makes AX the task register, both TSS descriptors marked available first.
use_tss:
    mov byte [gdt + TSS_SEL + 5], 0x89
    mov byte [gdt + SEL_TSSIO + 5], 0x89
    ltr ax
    ret

; init_vm_task: TSS_VM runs v86_task in virtual-8086 mode at IOPL 0 (its HLT faults, which ends
; the case with the task's state in the exception line); its ring-0 stack is the kernel's.
init_vm_task:
    pushad
    mov edi, TSS_VM
    xor eax, eax
    mov ecx, 0x68 / 4
    rep stosd
    mov dword [TSS_VM + 4], ESP0
    mov dword [TSS_VM + 8], KDATA
    mov dword [TSS_VM + 0x20], v86_task
    mov dword [TSS_VM + 0x24], VM_FLAG | 2
    mov dword [TSS_VM + 0x28], 0xabcd1234 ; EAX
    mov dword [TSS_VM + 0x38], V86_SP ; ESP
    mov word [TSS_VM + 0x48], V86_DS  ; ES
    mov word [TSS_VM + 0x4c], 0       ; CS
    mov word [TSS_VM + 0x50], V86_SS  ; SS
    mov word [TSS_VM + 0x54], V86_DS  ; DS
    mov word [TSS_VM + 0x58], 0x0123  ; FS
    mov word [TSS_VM + 0x5c], 0x0456  ; GS
    mov eax, cr3
    mov [TSS_VM + 0x1c], eax
    mov word [TSS_VM + 0x66], 0x68
    popad
    ret

; paging_on: 4 KiB pages identity-mapping the first 4 MiB for user mode, but SUPER (supervisor).
paging_on:
    pushad
    mov edi, PT
    mov eax, 7
    mov ecx, 1024
.pte:
    stosd
    add eax, 0x1000
    loop .pte
    mov dword [PT + (SUPER >> 12) * 4], SUPER | 3
    mov edi, PD
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PD], PT | 7
    mov eax, PD
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    popad
    ret

paging_off:
    push eax
    mov eax, cr0
    and eax, 0x7fffffff
    mov cr0, eax
    xor eax, eax
    mov cr3, eax
    pop eax
    ret

bits 16
; A far subroutine at 0100:(v86_far - 0x1000), called from virtual-8086 mode.
v86_far:
    mov ax, cs
    mov bx, 0x1234
    retf

; The virtual-8086 task's code: it reads its segment registers, then faults on HLT.
v86_task:
    mov bx, ds
    mov cx, fs
    mov dx, gs
    hlt

v86_scratch: dw 0

align 16
v86_halt:
    hlt
bits 32
