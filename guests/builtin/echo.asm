; A console echo guest for record/replay tests: real mode, no BIOS. It programs the 8259A pair
; (IRQ4, COM1, at vector 0x24), the 16550A's receive interrupt and the 8254 (IRQ0 at 100 Hz, so
; that idle time passes between inputs), then sleeps in HLT. Every byte received is echoed in
; upper case with a running count of timer ticks; "q" ends it with interrupts off.
; Build: nasm -f bin -o echo.bin echo.asm

bits 16
org 0x7c00

COM1 equ 0x3f8

start:
    cli
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7000
    ; IVT: vector 0x20 (IRQ0) and 0x24 (IRQ4)
    mov word [0x20 * 4], timer
    mov word [0x20 * 4 + 2], 0
    mov word [0x24 * 4], serial
    mov word [0x24 * 4 + 2], 0
    ; 8259A pair: ICW1-4, master base 0x20, slave base 0x28, cascade on IRQ2
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
    mov al, 0xec                    ; unmask IRQ0, IRQ1 (unused), IRQ4
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    ; 8254 channel 0, mode 2, 100 Hz
    mov al, 0x34
    out 0x43, al
    mov ax, 11932
    out 0x40, al
    mov al, ah
    out 0x40, al
    ; 16550A: 8N1, FIFO on, receive interrupt, OUT2 (the IRQ line's gate on a PC)
    mov dx, COM1 + 3
    mov al, 3
    out dx, al
    mov dx, COM1 + 2
    mov al, 7
    out dx, al
    mov dx, COM1 + 4
    mov al, 0x0b
    out dx, al
    mov dx, COM1 + 1
    mov al, 1
    out dx, al
    mov si, hello
    call puts
idle:
    sti
    hlt
    cmp byte [quit], 0
    je idle
    mov si, bye
    call puts
    cli
    hlt

timer:
    inc word [ticks]
    push ax
    mov al, 0x20
    out 0x20, al
    pop ax
    iret

serial:
    push ax
    push dx
.more:
    mov dx, COM1 + 5
    in al, dx
    test al, 1
    jz .done
    mov dx, COM1
    in al, dx
    cmp al, 'q'
    jne .echo
    mov byte [quit], 1
.echo:
    cmp al, 'a'
    jb .put
    cmp al, 'z'
    ja .put
    sub al, 0x20
.put:
    call putc
    cmp al, 10
    jne .more
    mov ax, [ticks]
    call puthex
    mov al, 10
    call putc
    jmp .more
.done:
    mov al, 0x20
    out 0x20, al
    pop dx
    pop ax
    iret

; putc: AL to COM1, polling the transmitter
putc:
    push dx
    push ax
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop ax
    mov dx, COM1
    out dx, al
    pop dx
    ret

puts:
    lodsb
    test al, al
    jz .end
    call putc
    jmp puts
.end:
    ret

; puthex: AX as four hex digits
puthex:
    push cx
    mov cx, 4
.digit:
    rol ax, 4
    push ax
    and al, 15
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 7
.out:
    call putc
    pop ax
    loop .digit
    pop cx
    ret

hello: db "echo: type; q quits", 10, 0
bye:   db "echo: bye", 10, 0
quit:  db 0
ticks: dw 0
