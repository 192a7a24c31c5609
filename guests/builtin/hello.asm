; Afterglow's built-in default guest: a flat binary the PC loads at 0x7c00 in real mode, like a
; boot sector. A tiny kernel: it enters protected mode, prints on COM1 (a 16550A, polled), sets
; up an IDT, the 8259A pair and the 8254 (IRQ0 at 1 kHz), identity paging with 4 KiB pages, and a
; TSS; then drops to a user-mode program at CPL 3 that computes a few answers known in advance
; (prime count, CRC-32, Fibonacci, a division sum) and prints them through INT 0x80. After the
; program exits, the kernel takes a demand-paging fault, idles with HLT until ten timer
; interrupts have passed, and halts with interrupts off.
; Build: nasm -f bin -o hello.bin hello.asm

%include "pm32.inc"

COM1      equ 0x3f8
KCODE     equ 0x08
KDATA     equ 0x10
UCODE     equ 0x1b                    ; GDT entry 3, RPL 3
UDATA     equ 0x23                    ; GDT entry 4, RPL 3
TSS_SEL   equ 0x28                    ; GDT entry 5

IDT       equ 0x10000                 ; 256 gates
GDT       equ 0x10a00
TSS       equ 0x10800
PGDIR     equ 0x11000
PGTAB     equ 0x12000                 ; maps 0 - 4 MiB
KSTACK    equ 0x90000
USTACK    equ 0x200000
SIEVE     equ 0x100000
SIEVE_N   equ 50000
DEMAND    equ 0x400000                ; left unmapped: the kernel's first touch faults it in

pm_main:
    call uart_init
    mov esi, banner32
    call puts

    ; A GDT of its own: pm32.inc's flat kernel entries, then user code and data (DPL 3) and the TSS.
    mov esi, gdt
    mov edi, GDT
    mov ecx, 6
    rep movsd
    mov dword [GDT + 0x18], 0x0000ffff
    mov dword [GDT + 0x1c], 0x00cffa00
    mov dword [GDT + 0x20], 0x0000ffff
    mov dword [GDT + 0x24], 0x00cff200
    mov eax, TSS
    mov word [GDT + 0x28], 0x67
    mov [GDT + 0x2a], ax
    shr eax, 16
    mov [GDT + 0x2c], al
    mov byte [GDT + 0x2d], 0x89       ; present, 32-bit available TSS
    mov byte [GDT + 0x2e], 0
    mov [GDT + 0x2f], ah
    lgdt [gdt2_desc]
    mov dword [TSS + 4], KSTACK       ; ESP0
    mov dword [TSS + 8], KDATA        ; SS0
    mov word [TSS + 0x66], 0x68       ; no I/O bitmap
    mov ax, TSS_SEL
    ltr ax

    ; IDT: every vector to `unexpected`, then the exceptions and interrupts this kernel handles.
    mov ecx, 256
    mov edi, IDT
.fill:
    mov eax, unexpected
    call set_gate_at
    add edi, 8
    loop .fill
    mov eax, pf_handler
    mov edi, IDT + 14 * 8
    call set_gate_at
    mov eax, timer_handler
    mov edi, IDT + 0x20 * 8
    call set_gate_at
    mov eax, syscall_handler
    mov edi, IDT + 0x80 * 8
    call set_gate_at
    mov byte [IDT + 0x80 * 8 + 5], 0xee   ; DPL 3: user code may INT 0x80
    lidt [idt_desc]

    ; 8259A pair: ICW1-4, vectors 0x20 and 0x28, everything masked but IRQ0.
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, 0xfe
    out 0x21, al
    mov al, 0xff
    out 0xa1, al

    ; 8254 channel 0: mode 2, 1193 ticks (1 kHz).
    mov al, 0x34
    out 0x43, al
    mov ax, 1193
    out 0x40, al
    mov al, ah
    out 0x40, al

    ; Identity paging for 0-4 MiB with 4 KiB pages, user-accessible; DEMAND, above, is unmapped.
    mov edi, PGTAB
    mov eax, 0x007                    ; present, writable, user
    mov ecx, 1024
.pte:
    stosd
    add eax, 0x1000
    loop .pte
    mov edi, PGDIR
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PGDIR], PGTAB | 7
    mov eax, PGDIR
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80010000                ; PG, WP
    mov cr0, eax
    mov esi, msg_paging
    call puts

    ; Into user mode through IRET, interrupts on.
    sti
    push UDATA
    push USTACK
    pushfd
    push UCODE
    push user_main
    mov ax, UDATA
    mov ds, ax
    mov es, ax
    iret

; The user program: CPL 3, flat user segments, output through INT 0x80 (EAX=1 write ESI; EAX=2
; write decimal EBX; EAX=3 write hex EBX; EAX=0 exit).
user_main:
    mov eax, 1
    mov esi, msg_user
    int 0x80

    ; Primes below 50000 by the sieve of Eratosthenes (answer: 5133).
    mov edi, SIEVE
    mov ecx, SIEVE_N
    mov al, 1
    rep stosb
    mov ebx, 2
.outer:
    mov eax, ebx
    mul ebx
    cmp eax, SIEVE_N
    jae .count
    cmp byte [SIEVE + ebx], 0
    je .next
.strike:
    mov byte [SIEVE + eax], 0
    add eax, ebx
    cmp eax, SIEVE_N
    jb .strike
.next:
    inc ebx
    jmp .outer
.count:
    xor ebx, ebx
    mov ecx, 2
.cnt:
    movzx edx, byte [SIEVE + ecx]
    add ebx, edx
    inc ecx
    cmp ecx, SIEVE_N
    jb .cnt
    mov esi, msg_primes
    call user_dec

    ; CRC-32 (IEEE, reflected) of "123456789": 0xcbf43926.
    mov esi, crc_input
    mov ecx, 9
    mov edx, 0xffffffff
.crc_byte:
    movzx eax, byte [esi]
    inc esi
    xor dl, al
    mov ebx, 8
.crc_bit:
    shr edx, 1
    jnc .crc_nox
    xor edx, 0xedb88320
.crc_nox:
    dec ebx
    jnz .crc_bit
    loop .crc_byte
    not edx
    mov ebx, edx
    mov esi, msg_crc
    mov eax, 1
    int 0x80
    mov eax, 3
    int 0x80
    mov eax, 1
    mov esi, newline
    int 0x80

    ; Fibonacci(40) mod 2^32 by a loop with XADD: 102334155.
    mov ecx, 40
    xor eax, eax
    mov edx, 1
.fib:
    xadd edx, eax
    loop .fib
    mov ebx, eax
    mov esi, msg_fib
    call user_dec

    ; Sum of floor(1000000 / k) for k = 1..1000 with DIV: 7485017.
    xor edi, edi
    mov ecx, 1
.harm:
    mov eax, 1000000
    xor edx, edx
    div ecx
    add edi, eax
    inc ecx
    cmp ecx, 1000
    jbe .harm
    mov ebx, edi
    mov esi, msg_div
    call user_dec

    xor eax, eax
    int 0x80                          ; exit: does not return

; user_dec: prints the string at ESI, EBX in decimal and a newline.
user_dec:
    mov eax, 1
    int 0x80
    mov eax, 2
    int 0x80
    mov eax, 1
    mov esi, newline
    int 0x80
    ret

; ---- Kernel side ----

syscall_handler:
    push ds
    push es
    pushad
    mov dx, KDATA
    mov ds, dx
    mov es, dx
    cmp eax, 0
    je .exit
    cmp eax, 1
    jne .dec
    call puts
    jmp .done
.dec:
    mov eax, ebx
    cmp dword [esp + 28], 2           ; the caller's EAX
    jne .hex
    call putdec
    jmp .done
.hex:
    call puthex
.done:
    popad
    pop es
    pop ds
    iret
.exit:
    ; Back in the kernel for good: drop the user frame and carry on on the kernel stack.
    mov esp, KSTACK
    mov esi, msg_exit
    call puts
    jmp after_user

after_user:
    ; Demand paging: DEMAND has no page table; the fault handler supplies one.
    mov dword [DEMAND], 0x12345678
    mov eax, [DEMAND]
    mov esi, msg_demand
    call puts
    call puthex
    call newline_k

    ; Idle until ten more timer interrupts: HLT lets the machine skip to each one.
    mov ebx, [ticks]
    add ebx, 10
.idle:
    sti
    hlt
    cmp [ticks], ebx
    jb .idle
    mov esi, msg_timer
    call puts
    mov esi, msg_done
    call puts
    cli
    hlt
    jmp $ - 2

timer_handler:
    push eax
    inc dword [ticks]
    mov al, 0x20
    out 0x20, al                      ; EOI
    pop eax
    iret

pf_handler:
    pushad
    mov esi, msg_pf
    call puts
    mov eax, cr2
    call puthex
    mov esi, msg_pf_code
    call puts
    mov eax, [esp + 32]               ; the error code, above the saved registers
    call puthex
    call newline_k
    ; A second page table, identity-mapping the faulting page.
    mov dword [PGTAB2 + ((DEMAND >> 12) & 0x3ff) * 4], DEMAND | 3
    mov dword [PGDIR + (DEMAND >> 22) * 4], PGTAB2 | 3
    mov eax, cr3
    mov cr3, eax
    popad
    add esp, 4                        ; drop the error code
    iret

unexpected:
    mov esi, msg_unexpected
    call puts
    cli
    hlt

; set_gate_at: a 32-bit interrupt gate at EDI to kernel handler EAX (DPL 0).
set_gate_at:
    mov [edi], ax
    mov word [edi + 2], KCODE
    mov word [edi + 4], 0x8e00
    shr eax, 16
    mov [edi + 6], ax
    ret

uart_init:
    mov dx, COM1 + 3
    mov al, 0x80                      ; DLAB
    out dx, al
    mov dx, COM1
    mov al, 1                         ; 115200 baud
    out dx, al
    inc dx
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 3                         ; 8N1
    out dx, al
    ret

; putc: AL to COM1, waiting for the transmitter holding register to be empty.
putc:
    push edx
    push eax
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop eax
    mov dx, COM1
    out dx, al
    pop edx
    ret

; puts: the NUL-terminated string at ESI.
puts:
    push eax
    push esi
.l: lodsb
    test al, al
    jz .d
    call putc
    jmp .l
.d: pop esi
    pop eax
    ret

newline_k:
    push eax
    mov al, 10
    call putc
    pop eax
    ret

; putdec: EAX in decimal.
putdec:
    pushad
    mov ebx, 10
    xor ecx, ecx
.div:
    xor edx, edx
    div ebx
    push edx
    inc ecx
    test eax, eax
    jnz .div
.out:
    pop eax
    add al, '0'
    call putc
    loop .out
    popad
    ret

; puthex: EAX as 0x and eight hex digits.
puthex:
    pushad
    mov edx, eax
    mov al, '0'
    call putc
    mov al, 'x'
    call putc
    mov ecx, 8
.h: rol edx, 4
    mov eax, edx
    and eax, 15
    mov al, [hexdigits + eax]
    call putc
    loop .h
    popad
    ret

banner16:       db "afterglow: real mode ok", 10, 0
banner32:       db "afterglow: protected mode ok", 10, 0
msg_paging:     db "afterglow: paging on", 10, 0
msg_user:       db "afterglow: user mode ok", 10, 0
msg_primes:     db "primes below 50000: ", 0
msg_crc:        db "crc32(123456789): ", 0
msg_fib:        db "fib(40): ", 0
msg_div:        db "sum 1000000/k, k=1..1000: ", 0
msg_exit:       db "afterglow: user program exited", 10, 0
msg_pf:         db "page fault at ", 0
msg_pf_code:    db ", error code ", 0
msg_demand:     db "demand-paged memory reads ", 0
msg_timer:      db "afterglow: 10 timer interrupts while idle", 10, 0
msg_done:       db "afterglow: done", 10, 0
msg_unexpected: db "afterglow: unexpected interrupt", 10, 0
newline:        db 10, 0
crc_input:      db "123456789"
hexdigits:      db "0123456789abcdef"

align 4
ticks:    dd 0
idt_desc: dw 256 * 8 - 1
          dd IDT
gdt2_desc: dw 0x2f
          dd GDT

PGTAB2 equ 0x13000
