; The CPU benchmark guest: after the shared protected-mode start it loops forever over kernels
; shaped like compiled C — a table-driven CRC-32 over a 64 KiB buffer, a word-copy loop,
; recursive calls, and an insertion sort — so `npm run bench` can time a fixed instruction budget.
; Build: nasm -f bin -o bench.bin bench.asm

%include "pm32.inc"

BUF     equ 0x100000          ; 64 KiB of data
BUF2    equ 0x110000          ; copy target
TABLE   equ 0x120000          ; CRC-32 table, 256 dwords
SORTBUF equ 0x130000          ; 256 dwords to sort

pm_main:
    ; CRC table
    xor ecx, ecx
.tab:
    mov eax, ecx
    mov edx, 8
.tbit:
    shr eax, 1
    jnc .tnox
    xor eax, 0xedb88320
.tnox:
    dec edx
    jnz .tbit
    mov [TABLE + ecx*4], eax
    inc ecx
    cmp ecx, 256
    jb .tab
    ; fill the buffer with a linear congruential sequence
    mov edi, BUF
    mov eax, 12345
    mov ecx, 16384
.fill:
    imul eax, eax, 1103515245
    add eax, 12345
    mov [edi], eax
    add edi, 4
    dec ecx
    jnz .fill

forever:
    ; table-driven CRC-32 of the buffer
    mov esi, BUF
    mov ecx, 65536
    mov edx, -1
.crc:
    movzx eax, byte [esi]
    inc esi
    xor al, dl
    shr edx, 8
    xor edx, [TABLE + eax*4]
    dec ecx
    jnz .crc
    mov [result], edx

    ; copy loop
    mov esi, BUF
    mov edi, BUF2
    mov ecx, 16384
.copy:
    mov eax, [esi]
    mov [edi], eax
    add esi, 4
    add edi, 4
    sub ecx, 1
    jnz .copy

    ; recursive fibonacci(18) through the stack
    push 18
    call fib
    add esp, 4
    mov [result + 4], eax

    ; insertion sort of 256 dwords taken from the buffer
    mov esi, BUF
    mov edi, SORTBUF
    mov ecx, 256
    rep movsd
    mov ebx, 1
.outer:
    mov eax, [SORTBUF + ebx*4]
    mov ecx, ebx
.inner:
    test ecx, ecx
    jz .place
    mov edx, [SORTBUF + ecx*4 - 4]
    cmp edx, eax
    jle .place
    mov [SORTBUF + ecx*4], edx
    dec ecx
    jmp .inner
.place:
    mov [SORTBUF + ecx*4], eax
    inc ebx
    cmp ebx, 256
    jb .outer
    jmp forever

; fib(n) = n < 2 ? n : fib(n-1) + fib(n-2), cdecl
fib:
    push ebp
    mov ebp, esp
    push ebx
    mov eax, [ebp + 8]
    cmp eax, 2
    jl .done
    dec eax
    push eax
    call fib
    mov ebx, eax
    mov eax, [esp]
    dec eax
    mov [esp], eax
    call fib
    add esp, 4
    add eax, ebx
.done:
    pop ebx
    pop ebp
    ret

banner16: db "afterglow: bench guest", 10, 0
align 4
result: dd 0, 0
