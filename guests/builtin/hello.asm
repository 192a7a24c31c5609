; Afterglow's built-in default guest (issue 2 edition): a flat binary the PC loads at 0x7c00 in
; real mode, like a boot sector. It enters 32-bit protected mode, runs a few CPU-bound kernels
; whose answers are known (prime count, CRC-32, Fibonacci, a division sum) and
; prints them on the debug console (port 0xe9), then halts with interrupts off.
; Build: nasm -f bin -o hello.bin hello.asm

%include "pm32.inc"

pm_main:
    mov esi, banner32
    call puts

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
    xor eax, eax
    mov ecx, 2
.cnt:
    movzx edx, byte [SIEVE + ecx]
    add eax, edx
    inc ecx
    cmp ecx, SIEVE_N
    jb .cnt
    mov esi, msg_primes
    call puts
    call putdec
    call newline

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
    mov eax, edx
    mov esi, msg_crc
    call puts
    call puthex
    call newline

    ; Fibonacci(40) mod 2^32 by a loop with XADD: 102334155.
    mov ecx, 40
    xor eax, eax
    mov edx, 1
.fib:
    xadd edx, eax
    loop .fib
    mov esi, msg_fib
    call puts
    call putdec
    call newline

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
    mov eax, edi
    mov esi, msg_div
    call puts
    call putdec
    call newline

    mov esi, msg_done
    call puts
    cli
    hlt
    jmp $ - 2

; puts: prints the NUL-terminated string at ESI.
puts:
    push eax
.l: lodsb
    test al, al
    jz .d
    out DEBUGCON, al
    jmp .l
.d: pop eax
    ret

newline:
    push eax
    mov al, 10
    out DEBUGCON, al
    pop eax
    ret

; putdec: prints EAX in decimal.
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
    out DEBUGCON, al
    loop .out
    popad
    ret

; puthex: prints EAX as 0x and eight hex digits.
puthex:
    pushad
    mov edx, eax
    mov al, '0'
    out DEBUGCON, al
    mov al, 'x'
    out DEBUGCON, al
    mov ecx, 8
.h: rol edx, 4
    mov eax, edx
    and eax, 15
    mov al, [hexdigits + eax]
    out DEBUGCON, al
    loop .h
    popad
    ret

banner32:   db "afterglow: protected mode ok", 10, 0
msg_primes: db "primes below 50000: ", 0
msg_crc:    db "crc32(123456789): ", 0
msg_fib:    db "fib(40): ", 0
msg_div:    db "sum 1000000/k, k=1..1000: ", 0
msg_done:   db "afterglow: done", 10, 0
crc_input:  db "123456789"
hexdigits:  db "0123456789abcdef"

SIEVE   equ 0x100000
SIEVE_N equ 50000
banner16:   db "afterglow: real mode ok", 10, 0
