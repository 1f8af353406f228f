/*
 * vv-vmm: a real VMM on the devices the API bound. Starts Debian's own
 * qemu-system-x86_64 inside the e2e VM with the devices passed through
 * (vfio-pci) and no guest code: its firmware is 64 KiB of HLT, so the one
 * vCPU stops at the reset vector while the machine (and its clock, which
 * times edu's DMA) runs. QEMU's qtest protocol on its stdin and stdout
 * reaches the VMM's port I/O, MMIO and RAM directly, so this program plays
 * the guest's driver. Built statically on the host, run in the VM.
 *
 *   vv-vmm run READY EDU-ADDR NVME-ADDR [UID GID MEMLOCK-MIB]
 *       starts QEMU with edu at the VMM's 00:04.0 and nvme at 00:05.0,
 *       drives both, prints what it saw as "key=value" lines, then writes
 *       its own pid to READY and keeps QEMU running until SIGTERM; then
 *       ends QEMU and waits until it is gone (the group stays open until
 *       then).
 *   vv-vmm start EDU-ADDR NVME-ADDR [UID GID MEMLOCK-MIB]
 *       starts QEMU the same way and reports whether the kernel let it
 *       open the devices: "started=1", or "started=0" and QEMU's error.
 *
 * With UID GID MEMLOCK-MIB, QEMU runs as that user and group (no
 * supplementary groups), with RLIMIT_MEMLOCK at that many MiB, as a VMM
 * started by Volant, libvirt or a jailer does.
 *
 * Facts, not verdicts: the test compares them with what it expects. A step
 * that cannot be done prints "error=STEP ..." and exits 1; usage exits 2.
 * The constants (BAR addresses, queue locations, transfer sizes) follow
 * ../shared/design/VMM.md; edu's DMA stays inside its 4 KiB buffer and
 * below 256 MiB, where QEMU 7.2's edu would otherwise abort the whole VM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QEMU "/usr/bin/qemu-system-x86_64"
#define BIOS "/e2e/qemu/bios.bin"
#define EDU_SLOT 4
#define NVME_SLOT 5
#define EDU_BAR 0xe0000000ULL  /* edu's BAR0 is 1 MiB */
#define NVME_BAR 0xe0100000ULL /* nvme's is 16 KiB, 64-bit */
#define ANSWER_MS 20000        /* one qtest answer; TCG start is ~2 s */

static pid_t qemu = -1;
static FILE *to_qemu;
static int from_qemu = -1;
static char inbuf[65536];
static size_t inlen;
static int irq_raised[64], irq_lowered[64];
static long as_uid = -1, as_gid = -1, memlock_mib = -1;

static void fail(const char *step, const char *fmt, ...)
{
    va_list ap;

    printf("error=%s ", step);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (qemu > 0) {
        kill(qemu, SIGKILL);
        waitpid(qemu, NULL, 0);
    }
    exit(1);
}

static long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* One line from QEMU into line (without its newline); 0 at a timeout or
 * the end of its output. */
static int read_line(char *line, size_t size, long deadline)
{
    for (;;) {
        char *nl = memchr(inbuf, '\n', inlen);
        struct pollfd p = { from_qemu, POLLIN, 0 };
        ssize_t n;
        long left;
        if (nl) {
            size_t len = (size_t)(nl - inbuf);
            if (len >= size) {
                len = size - 1;
            }
            memcpy(line, inbuf, len);
            line[len] = '\0';
            inlen -= (size_t)(nl - inbuf) + 1;
            memmove(inbuf, nl + 1, inlen);
            return 1;
        }
        if (inlen == sizeof(inbuf) || (left = deadline - now_ms()) <= 0
            || poll(&p, 1, (int)left) != 1) {
            return 0;
        }
        n = read(from_qemu, inbuf + inlen, sizeof(inbuf) - inlen);
        if (n <= 0) {
            return 0;
        }
        inlen += (size_t)n;
    }
}

/* Interrupt lines come whenever the device raises or lowers one; they are
 * counted per pin and set aside from the answers. */
static int irq_line(const char *line)
{
    int pin;

    if (sscanf(line, "IRQ raise %d", &pin) == 1 && pin >= 0 && pin < 64) {
        irq_raised[pin]++;
        return 1;
    }
    if (sscanf(line, "IRQ lower %d", &pin) == 1 && pin >= 0 && pin < 64) {
        irq_lowered[pin]++;
        return 1;
    }
    return 0;
}

/* Sends one qtest request and returns its answer's text after "OK". */
static const char *ask(const char *fmt, ...)
{
    static char line[65536];
    char req[16384];
    long deadline = now_ms() + ANSWER_MS;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(req, sizeof(req), fmt, ap);
    va_end(ap);
    fprintf(to_qemu, "%s\n", req);
    fflush(to_qemu);
    for (;;) {
        if (!read_line(line, sizeof(line), deadline)) {
            fail("qtest", "no answer to '%s'", req);
        }
        if (irq_line(line)) {
            continue;
        }
        if (strncmp(line, "OK", 2) == 0) {
            return line[2] == ' ' ? line + 3 : line + 2;
        }
        fail("qtest", "'%s' answered '%s'", req, line);
    }
}

static uint64_t ask_num(const char *fmt, ...)
{
    char req[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(req, sizeof(req), fmt, ap);
    va_end(ap);
    return strtoull(ask("%s", req), NULL, 0);
}

/* ---- the VMM's PCI configuration space (port 0xcf8/0xcfc) -------------- */

static uint32_t cfg_addr(int slot, int reg)
{
    return 0x80000000U | (uint32_t)slot << 11 | (uint32_t)reg;
}

static uint32_t cfg_read(int slot, int reg)
{
    ask("outl 0xcf8 0x%x", cfg_addr(slot, reg));
    return (uint32_t)ask_num("inl 0xcfc");
}

static void cfg_write(int slot, int reg, uint32_t v)
{
    ask("outl 0xcf8 0x%x", cfg_addr(slot, reg));
    ask("outl 0xcfc 0x%x", v);
}

/* No firmware runs: size BAR0 (all ones, read back), place it at base and
 * turn on memory decoding and bus mastering. Returns the BAR's size. */
static uint64_t place_bar(int slot, uint64_t base)
{
    uint32_t low;
    uint64_t size;

    cfg_write(slot, 0x10, 0xffffffffU);
    low = cfg_read(slot, 0x10);
    size = (uint64_t)(~(low & ~0xfU)) + 1;
    size &= 0xffffffffULL;
    cfg_write(slot, 0x10, (uint32_t)base);
    if ((low & 0x6) == 0x4) {
        cfg_write(slot, 0x14, (uint32_t)(base >> 32));
    }
    cfg_write(slot, 0x04, 0x0006);
    return size;
}

/* ---- guest RAM ----------------------------------------------------------- */

static void ram_write(uint64_t addr, const unsigned char *b, size_t n)
{
    char hex[8192];

    for (size_t i = 0; i < n; i++) {
        sprintf(hex + 2 * i, "%02x", b[i]);
    }
    ask("write 0x%" PRIx64 " 0x%zx 0x%s", addr, n, hex);
}

/* The hex digits of n bytes of RAM at addr (as QEMU prints them). */
static const char *ram_hex(uint64_t addr, size_t n)
{
    const char *a = ask("read 0x%" PRIx64 " 0x%zx", addr, n);

    return strncmp(a, "0x", 2) == 0 ? a + 2 : a;
}

static void ram_read(uint64_t addr, unsigned char *b, size_t n)
{
    const char *h = ram_hex(addr, n);

    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        if (sscanf(h + 2 * i, "%2x", &v) != 1) {
            fail("read", "short answer for 0x%" PRIx64, addr);
        }
        b[i] = (unsigned char)v;
    }
}

/* Polls until (read(reg) & mask) == want, or fails the step. */
static uint64_t poll_reg(const char *step, const char *op, uint64_t reg,
                         uint64_t mask, uint64_t want)
{
    long deadline = now_ms() + 5000;
    uint64_t v;

    while (((v = ask_num("%s 0x%" PRIx64, op, reg)) & mask) != want) {
        if (now_ms() > deadline) {
            fail(step, "0x%" PRIx64 " stayed 0x%" PRIx64, reg, v);
        }
        usleep(10000);
    }
    return v;
}

/* ---- edu (QEMU's teaching device) ----------------------------------------- */

/* New raises on the PCI interrupt pins (GSIs 16-23) since the last call
 * with the same counts; keeps the current ones in seen. */
static int pci_raises(int *seen)
{
    int n = 0;

    for (int i = 16; i < 24; i++) {
        n += irq_raised[i] - seen[i];
        seen[i] = irq_raised[i];
    }
    return n;
}

/* 200 ms of the device's status register read every 20 ms: BAR accesses
 * (each one the end of an interrupt to QEMU) and time for IRQ lines. */
static void settle(void)
{
    for (int i = 0; i < 10; i++) {
        ask("readl 0x%llx", EDU_BAR + 0x24);
        usleep(20000);
    }
}

static void edu_dma(uint64_t src, uint64_t dst, uint64_t count, int cmd)
{
    ask("writeq 0x%" PRIx64 " 0x%" PRIx64, EDU_BAR + 0x80, src);
    ask("writeq 0x%" PRIx64 " 0x%" PRIx64, EDU_BAR + 0x88, dst);
    ask("writeq 0x%" PRIx64 " 0x%" PRIx64, EDU_BAR + 0x90, count);
    ask("writeq 0x%" PRIx64 " 0x%x", EDU_BAR + 0x98, cmd);
    poll_reg("edu-dma", "readq", EDU_BAR + 0x98, 1, 0);
}

static void hexline(const char *key, const unsigned char *b, size_t n)
{
    printf("%s=", key);
    for (size_t i = 0; i < n; i++) {
        printf("%02x", b[i]);
    }
    printf("\n");
}

static void edu(void)
{
    enum { N = 256 };
    const uint64_t from = 0x100000, to = 0x200000;
    unsigned char pattern[N], before[N + 16], after[N + 16];
    uint32_t live;
    int fd, pin = -1, seen[64] = { 0 };

    printf("edu_bar_size=0x%" PRIx64 "\n", place_bar(EDU_SLOT, EDU_BAR));
    printf("edu_id=0x%08" PRIx64 "\n", ask_num("readl 0x%llx", EDU_BAR));
    fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, pattern, N) != N || read(fd, &live, 4) != 4) {
        fail("random", "%s", strerror(errno));
    }
    close(fd);
    ask("writel 0x%llx 0x%x", EDU_BAR + 4, live);
    printf("edu_live_written=0x%08x\n", live);
    printf("edu_live_read=0x%08" PRIx64 "\n", ask_num("readl 0x%llx",
                                                     EDU_BAR + 4));
    ask("writel 0x%llx 10", EDU_BAR + 8);
    poll_reg("edu-factorial", "readl", EDU_BAR + 0x20, 1, 0);
    printf("edu_factorial_10=%" PRIu64 "\n", ask_num("readl 0x%llx",
                                                    EDU_BAR + 8));

    /* DMA: the VMM's RAM at `from` into the device's buffer, and back out
     * to `to`; the bytes around `to` say it landed exactly there. */
    ram_write(from, pattern, N);
    ram_read(to, before, N + 16);
    edu_dma(from, 0x40000, N, 1);
    edu_dma(0x40000, to, N, 3);
    ram_read(to, after, N + 16);
    hexline("dma_pattern", pattern, N);
    hexline("dma_before", before, N + 16);
    hexline("dma_after", after, N + 16);

    /* INTx: raised by the device, delivered through vfio to the VMM's
     * IOAPIC, gone once acknowledged. The machine's own timers use pins
     * below 16; PCI interrupts come in on GSIs 16-23. Without KVM, QEMU
     * takes any access to the device's BARs as the end of the interrupt:
     * it lowers the line and unmasks, and a device still asserting raises
     * it again at once. So what counts is new raises: none before the
     * device is told to interrupt, some after, none after the ack. */
    pci_raises(seen);
    settle();
    printf("irq_pci_raises_unprovoked=%d\n", pci_raises(seen));
    ask("writel 0x%llx 0x1", EDU_BAR + 0x60);
    for (long deadline = now_ms() + 5000; pin < 0 && now_ms() < deadline;) {
        for (int i = 16; i < 24; i++) {
            if (irq_raised[i] > seen[i]) {
                pin = i;
            }
        }
        if (pin < 0) {
            ask("readl 0x%llx", EDU_BAR + 0x24); /* lets IRQ lines in */
            usleep(10000);
        }
    }
    printf("irq_raised_pin=%d\n", pin);
    printf("irq_status=0x%" PRIx64 "\n", ask_num("readl 0x%llx",
                                                 EDU_BAR + 0x24));
    ask("writel 0x%llx 0x1", EDU_BAR + 0x64);
    settle();
    pci_raises(seen);
    settle();
    printf("irq_pci_raises_after_ack=%d\n", pci_raises(seen));
    printf("irq_down=%d\n", pin >= 0 && irq_lowered[pin] == irq_raised[pin]);
    printf("irq_lines=");  /* every pin's raises/lowers, for a diagnosis */
    for (int i = 0; i < 64; i++) {
        if (irq_raised[i] || irq_lowered[i]) {
            printf("%d:%d/%d ", i, irq_raised[i], irq_lowered[i]);
        }
    }
    printf("\n");
    printf("irq_status_after=0x%" PRIx64 "\n", ask_num("readl 0x%llx",
                                                       EDU_BAR + 0x24));

    /* A DMA to an address the VMM never mapped (it has 32 MiB): the IOMMU
     * must drop it; the test reads the kernel's fault report. */
    edu_dma(0x40000, 0x8000000, 16, 3);
    printf("fault_dma_done=0x8000000\n");
}

/* ---- nvme ------------------------------------------------------------------ */

#define ASQ 0x300000ULL
#define ACQ 0x301000ULL

/* Submits admin command `slot` (Identify, CNS cns, namespace nsid, data at
 * buf) and waits for its completion; returns the completion's status. */
static unsigned identify(int slot, unsigned cns, unsigned nsid, uint64_t buf)
{
    unsigned char sqe[64] = { 0 }, cqe[16];
    long deadline = now_ms() + 5000;
    uint32_t dw3;

    sqe[0] = 0x06;               /* Identify */
    sqe[2] = (unsigned char)(slot + 1); /* command id */
    memcpy(sqe + 4, &nsid, 4);
    memcpy(sqe + 24, &buf, 8);   /* PRP1 */
    memcpy(sqe + 40, &cns, 4);   /* CDW10 */
    ram_write(ASQ + 64 * (uint64_t)slot, sqe, sizeof(sqe));
    ask("writel 0x%llx 0x%x", NVME_BAR + 0x1000, slot + 1); /* SQ0 tail */
    for (;;) {
        ram_read(ACQ + 16 * (uint64_t)slot, cqe, sizeof(cqe));
        memcpy(&dw3, cqe + 12, 4);
        if (dw3 & 0x10000) {     /* the phase tag of the first pass */
            break;
        }
        if (now_ms() > deadline) {
            fail("nvme-identify", "no completion for command %d", slot + 1);
        }
        usleep(10000);
    }
    ask("writel 0x%llx 0x%x", NVME_BAR + 0x1004, slot + 1); /* CQ0 head */
    printf("nvme_cid_%d=%u\n", slot + 1, dw3 & 0xffff);
    return dw3 >> 17;
}

static void nvme(void)
{
    unsigned char id[4096];
    uint64_t nsze;
    unsigned lbaf;

    printf("nvme_bar_size=0x%" PRIx64 "\n", place_bar(NVME_SLOT, NVME_BAR));
    printf("nvme_vs=0x%08" PRIx64 "\n", ask_num("readl 0x%llx", NVME_BAR + 8));
    ask("writel 0x%llx 0x0", NVME_BAR + 0x14);
    poll_reg("nvme-disable", "readl", NVME_BAR + 0x1c, 1, 0);
    ask("writel 0x%llx 0x00070007", NVME_BAR + 0x24);
    ask("writeq 0x%llx 0x%llx", NVME_BAR + 0x28, ASQ);
    ask("writeq 0x%llx 0x%llx", NVME_BAR + 0x30, ACQ);
    ask("writel 0x%llx 0x00460001", NVME_BAR + 0x14);
    printf("nvme_ready=%" PRIu64 "\n",
           poll_reg("nvme-enable", "readl", NVME_BAR + 0x1c, 1, 1) & 1);

    printf("nvme_identify_ctrl_status=%u\n", identify(0, 1, 0, 0x302000));
    ram_read(0x302000, id, 64);
    printf("nvme_serial=%.20s\n", (const char *)id + 4);
    printf("nvme_identify_ns_status=%u\n", identify(1, 0, 1, 0x303000));
    ram_read(0x303000, id, 192);
    memcpy(&nsze, id, 8);
    lbaf = id[26] & 0xf;
    printf("nvme_nsze=%" PRIu64 "\n", nsze);
    printf("nvme_lbads=%u\n", id[128 + 4 * lbaf + 2]);
    ask("writel 0x%llx 0x0", NVME_BAR + 0x14);
}

/* ---- QEMU -------------------------------------------------------------------- */

static void start_qemu(const char *edu_addr, const char *nvme_addr,
                       const char *errlog)
{
    char edu_dev[96], nvme_dev[96];
    int in[2], out[2];

    snprintf(edu_dev, sizeof(edu_dev), "vfio-pci,host=%s,addr=%02x.0,rombar=0",
             edu_addr, EDU_SLOT);
    snprintf(nvme_dev, sizeof(nvme_dev), "vfio-pci,host=%s,addr=%02x.0,rombar=0",
             nvme_addr, NVME_SLOT);
    if (pipe(in) != 0 || pipe(out) != 0) {
        fail("pipe", "%s", strerror(errno));
    }
    fflush(stdout);
    if ((qemu = fork()) == 0) {
        int err = open(errlog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* run() blocks SIGTERM */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (as_uid >= 0) {
            struct rlimit lim = { (rlim_t)memlock_mib << 20,
                                  (rlim_t)memlock_mib << 20 };
            if (setrlimit(RLIMIT_MEMLOCK, &lim) != 0 || setgroups(0, NULL) != 0
                || setgid((gid_t)as_gid) != 0 || setuid((uid_t)as_uid) != 0) {
                dprintf(err, "vv-vmm: cannot become %ld:%ld: %s\n", as_uid,
                        as_gid, strerror(errno));
                _exit(126);
            }
        }
        dup2(in[0], 0);
        dup2(out[1], 1);
        if (err >= 0) {
            dup2(err, 2);
        }
        close(in[1]);
        close(out[0]);
        execl(QEMU, QEMU, "-machine", "q35", "-nodefaults", "-display", "none",
              "-m", "32M", "-accel", "tcg,tb-size=64", "-bios", BIOS,
              "-device", edu_dev, "-device", nvme_dev, "-qtest", "stdio",
              (char *)NULL);
        _exit(127);
    }
    if (qemu < 0) {
        fail("fork", "%s", strerror(errno));
    }
    close(in[0]);
    close(out[1]);
    to_qemu = fdopen(in[1], "w");
    from_qemu = out[0];
}

/* The first line QEMU's stderr log holds (its error, when it failed). */
static void print_error_line(const char *errlog)
{
    char line[512] = "";
    FILE *f = fopen(errlog, "r");

    if (f) {
        while (fgets(line, sizeof(line), f)) {
            line[strcspn(line, "\n")] = '\0';
            if (strstr(line, "vfio") || strstr(line, "vv-vmm")) {
                break;
            }
        }
        fclose(f);
    }
    printf("qemu_error=%s\n", line);
}

/* QEMU keeps running when its input ends: it is told to stop, and killed
 * if it has not within 10 s. The devices stay open until it is gone. */
static void stop_qemu(void)
{
    int status;

    fclose(to_qemu);
    kill(qemu, SIGTERM);
    for (int i = 0; i < 1000 && waitpid(qemu, &status, WNOHANG) == 0; i++) {
        usleep(10000);
    }
    if (kill(qemu, 0) == 0) {
        kill(qemu, SIGKILL);
        waitpid(qemu, &status, 0);
    }
    qemu = -1;
}

static int run(const char *ready, const char *edu_addr, const char *nvme_addr)
{
    sigset_t set;
    int sig;
    long t0 = now_ms();
    FILE *f;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    start_qemu(edu_addr, nvme_addr, "/run/e2e/vmm-qemu.log");
    ask("irq_intercept_in ioapic");
    printf("qemu_pid=%d\n", (int)qemu);
    printf("start_ms=%ld\n", now_ms() - t0);
    printf("edu_vendor_device=0x%08x\n", cfg_read(EDU_SLOT, 0));
    printf("nvme_vendor_device=0x%08x\n", cfg_read(NVME_SLOT, 0));
    edu();
    nvme();
    printf("checks_ms=%ld\n", now_ms() - t0);
    fflush(stdout);
    if (!(f = fopen(ready, "w")) || fprintf(f, "%d\n", (int)getpid()) < 0
        || fclose(f) != 0) {
        fail("ready", "%s: %s", ready, strerror(errno));
    }
    sigwait(&set, &sig);
    stop_qemu();
    printf("stopped=1\n");
    return 0;
}

/* Starts QEMU on the devices and says whether it got as far as answering
 * (the devices opened) or exited (its error). */
static int start_only(const char *edu_addr, const char *nvme_addr)
{
    char line[512];
    int status;

    start_qemu(edu_addr, nvme_addr, "/run/e2e/vmm-second.log");
    fprintf(to_qemu, "outl 0xcf8 0x80000000\n");
    fflush(to_qemu);
    if (read_line(line, sizeof(line), now_ms() + ANSWER_MS)
        && strncmp(line, "OK", 2) == 0) {
        printf("started=1\n");
        stop_qemu();
        return 0;
    }
    fclose(to_qemu);
    kill(qemu, SIGKILL);
    waitpid(qemu, &status, 0);
    qemu = -1;
    printf("started=0\n");
    print_error_line("/run/e2e/vmm-second.log");
    return 0;
}

/* The optional UID GID MEMLOCK-MIB after n fixed arguments. */
static int as_user(int argc, char **argv, int n)
{
    if (argc == n) {
        return 1;
    }
    if (argc != n + 3) {
        return 0;
    }
    as_uid = atol(argv[n]);
    as_gid = atol(argv[n + 1]);
    memlock_mib = atol(argv[n + 2]);
    return as_uid > 0 && as_gid > 0 && memlock_mib >= 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    if (argc >= 5 && strcmp(argv[1], "run") == 0 && as_user(argc, argv, 5)) {
        return run(argv[2], argv[3], argv[4]);
    }
    if (argc >= 4 && strcmp(argv[1], "start") == 0 && as_user(argc, argv, 4)) {
        return start_only(argv[2], argv[3]);
    }
    fprintf(stderr, "usage: vv-vmm run READY EDU NVME [UID GID MEMLOCK-MIB] | "
            "start EDU NVME [UID GID MEMLOCK-MIB]\n");
    return 2;
}
