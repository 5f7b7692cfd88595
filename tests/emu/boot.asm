; qjit's bare-metal batch runner for Bochs (see README.md here and ../../../shared/ISA_EMULATION.md).
;
; Disk image: LBA 0 this boot sector, LBA 1..LOADER_SECTORS the loader below, LBA PAYLOAD_LBA.. the
; payload the host built (tests/emu/emu_image.*). The loader enters long mode with 0-4 GiB identity
; mapped (2 MiB pages), enables SSE/AVX/AVX-512 state (XCR0 = CPUID(0xD,0).EAX & 0xE7), installs an
; IDT whose handlers (on their own IST stack) report a fault and shut down, reads the payload with
; ATA PIO to PAYLOAD_BASE, calls every test descriptor's kernel with the SysV argument register rdi,
; records per call whether rbx, rbp, r12-r15 and rsp survived (canaries), the MXCSR the kernel left
; (each call starts under a hostile MXCSR) and the rdtsc delta, writes the payload's write-back
; sectors back to the disk (ATA WRITE SECTORS + FLUSH CACHE), prints a DONE line on port 0xE9 and
; powers off through port 0x8900 ("Shutdown").
;
; Payload header (at PAYLOAD_BASE; the host writes the first 5 fields, the guest the others):
;   +0 magic 'QJITEMU1'   +8 total sectors   +16 write-back sectors   +24 tests   +32 descriptor table
;   +40 status (1 running, 2 fault, 3 done)  +48 current test  +56 fault vector  +64 fault error code
;   +72 fault rip  +80 fault rsp  +88 tests done  +96 xcr0 set  +104 cpuid(7,0).ebx  +112 cpuid(7,0).ecx
; Descriptor (32 bytes): entry address, argument address (rdi), result record address, unused.
; Result record (32 bytes): done (1), preserved mask (bit 0 rbx, 1 rbp, 2 r12, 3 r13, 4 r14, 5 r15,
;   6 rsp), rdtsc cycles, MXCSR after the call.

LOADER_SECTORS equ 15
PAYLOAD_LBA    equ 64
PAYLOAD_BASE   equ 0x1000000
HOSTILE_MXCSR  equ 0xFFC0           ; round toward zero, FTZ, DAZ, exceptions masked
IDT_BASE       equ 0x5000
TSS_BASE       equ 0x6000
STACK_TOP      equ 0x80000
IST_TOP        equ 0x70000
PML4           equ 0x10000

H_MAGIC    equ 0
H_SECTORS  equ 8
H_WB       equ 16
H_TESTS    equ 24
H_DESC     equ 32
H_STATUS   equ 40
H_CURRENT  equ 48
H_VECTOR   equ 56
H_ERROR    equ 64
H_RIP      equ 72
H_RSP      equ 80
H_DONE     equ 88
H_XCR0     equ 96
H_CPUID7B  equ 104
H_CPUID7C  equ 112

BITS 16
ORG 0x7C00

boot:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    mov si, dap
    mov ah, 0x42                    ; extended read: LOADER_SECTORS sectors from LBA 1 to 0x7E00
    int 0x13
    jc .fail
    jmp 0x0000:loader16
.fail:
    mov dx, 0xE9
    mov al, '!'
    out dx, al
.halt:
    hlt
    jmp .halt

align 4
dap:
    db 0x10, 0
    dw LOADER_SECTORS
    dw 0x7E00, 0x0000
    dq 1

times 510 - ($ - $$) db 0
dw 0xAA55

; ---------------------------------------------------------------- loader (0x7E00) ----
loader16:
    in al, 0x92                     ; A20 through the system control port
    or al, 2
    and al, 0xFE
    out 0x92, al
    lgdt [gdt_ptr]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp 0x18:pm32

BITS 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, 0x7C00
    mov edi, PML4                   ; PML4, PDPT, 4 page directories: 6 pages
    mov ecx, 6 * 1024
    xor eax, eax
    rep stosd
    mov dword [PML4], PML4 + 0x1003
    mov dword [PML4 + 0x1000], PML4 + 0x2003
    mov dword [PML4 + 0x1008], PML4 + 0x3003
    mov dword [PML4 + 0x1010], PML4 + 0x4003
    mov dword [PML4 + 0x1018], PML4 + 0x5003
    mov edi, PML4 + 0x2000          ; 2048 x 2 MiB pages: 0-4 GiB identity
    mov eax, 0x83                   ; present | writable | page size
    xor edx, edx
    mov ecx, 2048
.pd:
    mov [edi], eax
    mov [edi + 4], edx
    add eax, 0x200000
    adc edx, 0
    add edi, 8
    loop .pd
    mov eax, cr4
    or eax, 1 << 5                  ; PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, 0xC0000080             ; EFER.LME
    rdmsr
    or eax, 1 << 8
    wrmsr
    mov eax, cr0
    or eax, 1 << 31                 ; PG
    mov cr0, eax
    jmp 0x08:lm64

BITS 64
lm64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov rsp, STACK_TOP
    ; SSE / AVX / AVX-512 state.
    mov rax, cr0
    and rax, ~(1 << 2)              ; EM off
    or rax, 1 << 1                  ; MP on
    mov cr0, rax
    mov rax, cr4
    or rax, (1 << 9) | (1 << 10) | (1 << 18) ; OSFXSR, OSXMMEXCPT, OSXSAVE
    mov cr4, rax
    mov eax, 0xD
    xor ecx, ecx
    cpuid
    and eax, 0xE7                   ; x87, SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
    mov r12, rax
    xor edx, edx
    xor ecx, ecx
    xsetbv
    ; TSS with IST1, then the IDT (vectors 0-31 on IST1).
    mov rdi, TSS_BASE
    mov ecx, 104 / 8
    xor eax, eax
    rep stosq
    mov qword [TSS_BASE + 36], IST_TOP
    mov word [TSS_BASE + 102], 104
    mov ax, 0x20
    ltr ax
    mov rdi, IDT_BASE
    mov rsi, isr_table
    mov ecx, 32
.idt:
    mov rax, [rsi]
    mov [rdi], ax                   ; offset 15:0
    mov word [rdi + 2], 0x08        ; selector
    mov byte [rdi + 4], 1           ; IST1
    mov byte [rdi + 5], 0x8E        ; present, interrupt gate
    shr rax, 16
    mov [rdi + 6], ax               ; offset 31:16
    shr rax, 16
    mov [rdi + 8], eax              ; offset 63:32
    mov dword [rdi + 12], 0
    add rdi, 16
    add rsi, 8
    loop .idt
    lidt [idt_ptr]

    mov rsi, msg_hello
    call print_str
    ; Payload: the header sector first (it says how many follow), then the rest.
    mov rdi, PAYLOAD_BASE
    mov eax, PAYLOAD_LBA
    mov ecx, 1
    call ata_read
    mov rax, 'QJITEMU1'
    cmp [PAYLOAD_BASE + H_MAGIC], rax
    jne bad_payload
    mov [PAYLOAD_BASE + H_XCR0], r12
    mov eax, 7
    xor ecx, ecx
    cpuid
    mov [PAYLOAD_BASE + H_CPUID7B], rbx
    mov [PAYLOAD_BASE + H_CPUID7C], rcx
    mov r13, [PAYLOAD_BASE + H_SECTORS]
    dec r13                         ; sectors after the header
    mov r14d, PAYLOAD_LBA + 1
    mov rdi, PAYLOAD_BASE + 512
.load:
    test r13, r13
    jz .loaded
    mov ecx, 256
    cmp r13, 256
    jae .chunk
    mov ecx, r13d
.chunk:
    mov eax, r14d
    sub r13, rcx
    add r14d, ecx
    call ata_read                   ; advances rdi
    jmp .load
.loaded:
    mov rsi, msg_loaded
    call print_str
    mov qword [PAYLOAD_BASE + H_STATUS], 1
    mov qword [PAYLOAD_BASE + H_CURRENT], 0
    mov qword [PAYLOAD_BASE + H_DONE], 0

run_tests:
    mov rax, [PAYLOAD_BASE + H_CURRENT]
    cmp rax, [PAYLOAD_BASE + H_TESTS]
    jae all_done
    shl rax, 5
    add rax, [PAYLOAD_BASE + H_DESC]
    mov [cur_desc], rax
    mov [saved_rsp], rsp
    ldmxcsr [hostile_mxcsr]
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [t0], rax
    mov rsi, [cur_desc]
    mov rdi, [rsi + 8]
    mov rax, [rsi]
    mov rbx, 0x1111111111111111
    mov rbp, 0x2222222222222222
    mov r12, 0x3333333333333333
    mov r13, 0x4444444444444444
    mov r14, 0x5555555555555555
    mov r15, 0x6666666666666666
    call rax
    xor ecx, ecx                    ; preserved mask
    mov rax, 0x1111111111111111
    cmp rbx, rax
    jne .c1
    or ecx, 1
.c1:
    mov rax, 0x2222222222222222
    cmp rbp, rax
    jne .c2
    or ecx, 2
.c2:
    mov rax, 0x3333333333333333
    cmp r12, rax
    jne .c3
    or ecx, 4
.c3:
    mov rax, 0x4444444444444444
    cmp r13, rax
    jne .c4
    or ecx, 8
.c4:
    mov rax, 0x5555555555555555
    cmp r14, rax
    jne .c5
    or ecx, 16
.c5:
    mov rax, 0x6666666666666666
    cmp r15, rax
    jne .c6
    or ecx, 32
.c6:
    cmp rsp, [saved_rsp]
    jne .c7
    or ecx, 64
.c7:
    mov rsp, [saved_rsp]
    mov r8, rcx
    stmxcsr [mxcsr_after]
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, [t0]
    mov rsi, [cur_desc]
    mov rdi, [rsi + 16]             ; result record
    mov qword [rdi], 1
    mov [rdi + 8], r8
    mov [rdi + 16], rax
    mov eax, [mxcsr_after]
    mov [rdi + 24], rax
    inc qword [PAYLOAD_BASE + H_CURRENT]
    inc qword [PAYLOAD_BASE + H_DONE]
    jmp run_tests

all_done:
    mov qword [PAYLOAD_BASE + H_STATUS], 3
    call write_back
    mov rsi, msg_done
    call print_str
    mov rax, [PAYLOAD_BASE + H_DONE]
    call print_hex
    mov al, 10
    call print_chr
    jmp shutdown

bad_payload:
    mov rsi, msg_bad
    call print_str
    jmp shutdown

; -------------------------------------------------------------- faults ----
%macro ISR_NOERR 1
isr%1:
    push qword 0
    push qword %1
    jmp isr_common
%endmacro
%macro ISR_ERR 1
isr%1:
    push qword %1
    jmp isr_common
%endmacro
%assign i 0
%rep 32
%if i == 8 || i == 10 || i == 11 || i == 12 || i == 13 || i == 14 || i == 17 || i == 21 || i == 29 || i == 30
ISR_ERR i
%else
ISR_NOERR i
%endif
%assign i i + 1
%endrep

isr_common:                         ; [rsp] vector, +8 error, +16 rip, +24 cs, +32 rflags, +40 rsp
    mov rax, [rsp]
    mov [PAYLOAD_BASE + H_VECTOR], rax
    mov rax, [rsp + 8]
    mov [PAYLOAD_BASE + H_ERROR], rax
    mov rax, [rsp + 16]
    mov [PAYLOAD_BASE + H_RIP], rax
    mov rax, [rsp + 40]
    mov [PAYLOAD_BASE + H_RSP], rax
    mov qword [PAYLOAD_BASE + H_STATUS], 2
    mov rsi, msg_fault
    call print_str
    mov rax, [PAYLOAD_BASE + H_VECTOR]
    call print_hex
    mov rsi, msg_rip
    call print_str
    mov rax, [PAYLOAD_BASE + H_RIP]
    call print_hex
    mov rsi, msg_test
    call print_str
    mov rax, [PAYLOAD_BASE + H_CURRENT]
    call print_hex
    mov al, 10
    call print_chr
    call write_back
    jmp shutdown

; ------------------------------------------------------------ ATA PIO ----
ata_wait_bsy:                       ; clobbers al, dx
    mov dx, 0x1F7
.l:
    in al, dx
    test al, 0x80
    jnz .l
    ret

ata_wait_drq:
    mov dx, 0x1F7
.l:
    in al, dx
    test al, 0x80
    jnz .l
    test al, 0x01
    jnz ata_error
    test al, 0x08
    jz .l
    ret

ata_error:
    mov rsi, msg_ata
    call print_str
    jmp shutdown

; eax = LBA, ecx = sectors (1..256), command in bl: programs the task file.
ata_command:
    push rax
    push rcx
    mov r9d, eax
    mov r10d, ecx
    call ata_wait_bsy
    mov dx, 0x1F6
    mov eax, r9d
    shr eax, 24
    and al, 0x0F
    or al, 0xE0
    out dx, al
    mov dx, 0x1F2
    mov eax, r10d
    out dx, al                      ; 256 -> 0
    mov dx, 0x1F3
    mov eax, r9d
    out dx, al
    mov dx, 0x1F4
    shr eax, 8
    out dx, al
    mov dx, 0x1F5
    shr eax, 8
    out dx, al
    mov dx, 0x1F7
    mov al, bl
    out dx, al
    pop rcx
    pop rax
    ret

; rdi = destination (advanced), eax = LBA, ecx = sectors (1..256)
ata_read:
    push rbx
    mov bl, 0x20
    call ata_command
    mov r11d, ecx
.sector:
    call ata_wait_drq
    mov dx, 0x1F0
    mov ecx, 256
    rep insw
    dec r11d
    jnz .sector
    pop rbx
    ret

; rsi = source (advanced), eax = LBA, ecx = sectors (1..256)
ata_write:
    push rbx
    mov bl, 0x30
    call ata_command
    mov r11d, ecx
.sector:
    call ata_wait_drq
    mov dx, 0x1F0
    mov ecx, 256
.word:
    outsw                           ; one word at a time (no rep outsw to a disk)
    loop .word
    dec r11d
    jnz .sector
    call ata_wait_bsy
    pop rbx
    ret

; Writes the header, descriptors, results and outputs (the first H_WB sectors) back, then flushes.
write_back:
    mov r13, [PAYLOAD_BASE + H_WB]
    mov r14d, PAYLOAD_LBA
    mov rsi, PAYLOAD_BASE
.chunk:
    test r13, r13
    jz .flush
    mov ecx, 256
    cmp r13, 256
    jae .go
    mov ecx, r13d
.go:
    mov eax, r14d
    sub r13, rcx
    add r14d, ecx
    call ata_write
    jmp .chunk
.flush:
    call ata_wait_bsy
    mov dx, 0x1F7
    mov al, 0xE7                    ; FLUSH CACHE
    out dx, al
    call ata_wait_bsy
    ret

; ------------------------------------------------------------ port 0xE9 ----
print_chr:
    mov dx, 0xE9
    out dx, al
    ret

print_str:                          ; rsi = zero-terminated string
    lodsb
    test al, al
    jz .e
    call print_chr
    jmp print_str
.e:
    ret

print_hex:                          ; rax as 16 hex digits
    mov rcx, 16
    mov r8, rax
.d:
    rol r8, 4
    mov al, r8b
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .p
    add al, 'a' - '0' - 10
.p:
    push rcx
    call print_chr
    pop rcx
    loop .d
    ret

shutdown:
    mov dx, 0x8900
    mov rsi, msg_shutdown
.s:
    lodsb
    test al, al
    jz .h
    out dx, al
    jmp .s
.h:
    cli
    hlt
    jmp .h

; --------------------------------------------------------------- data ----
align 8
gdt:
    dq 0
    dq 0x00AF9A000000FFFF           ; 0x08 code64
    dq 0x00CF92000000FFFF           ; 0x10 data
    dq 0x00CF9A000000FFFF           ; 0x18 code32
    dw 103, TSS_BASE                ; 0x20 64-bit TSS at TSS_BASE (limit 103)
    db 0, 0x89, 0, 0
    dd 0, 0
gdt_end:
gdt_ptr:
    dw gdt_end - gdt - 1
    dq gdt
idt_ptr:
    dw 32 * 16 - 1
    dq IDT_BASE

isr_table:
%assign i 0
%rep 32
    dq isr %+ i
%assign i i + 1
%endrep

hostile_mxcsr: dd HOSTILE_MXCSR
mxcsr_after:   dd 0
cur_desc:      dq 0
saved_rsp:     dq 0
t0:            dq 0

msg_hello:    db "QJIT-EMU long mode", 10, 0
msg_loaded:   db "QJIT-EMU payload loaded", 10, 0
msg_done:     db "QJIT-EMU DONE tests=", 0
msg_fault:    db "QJIT-EMU FAULT vector=", 0
msg_rip:      db " rip=", 0
msg_test:     db " test=", 0
msg_bad:      db "QJIT-EMU BAD PAYLOAD", 10, 0
msg_ata:      db "QJIT-EMU ATA ERROR", 10, 0
msg_shutdown: db "Shutdown", 0

times (1 + LOADER_SECTORS) * 512 - ($ - $$) db 0
