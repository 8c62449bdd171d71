/*
 * pytest-anonvma: one-byte touches that fault the way the CPU does, caught instead of fatal.
 *
 * Shared by the live sandbox (sandbox.c) and by every program export_c writes. The touch runs in
 * the process's own mm, so a read of an empty anonymous page maps the zero page, a write
 * allocates (or breaks copy-on-write), and a guard marker, a missing VMA, a protection the access
 * lacks or a file page past EOF raise the real signal. SIGSEGV and SIGBUS are handled on an
 * alternate stack and unwound with siglongjmp, so the caller sees the signal number, its si_code
 * and the faulting address. av_pin_cpu keeps the process on one CPU, for reclaim that does the
 * same every time.
 */
#ifndef AV_TOUCH_H
#define AV_TOUCH_H

#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

struct av_touch {
	int sig;		/* 0, SIGSEGV or SIGBUS */
	int code;		/* si_code of the signal */
	unsigned long addr;	/* si_addr of the signal */
	unsigned char value;	/* the byte read (reads without a fault) */
};

static sigjmp_buf av_fault_jmp;
static volatile sig_atomic_t av_fault_sig;
static volatile int av_fault_code;
static volatile unsigned long av_fault_addr;
static char av_alt_stack[1 << 16];

static void av_on_fault(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	av_fault_sig = sig;
	av_fault_code = info->si_code;
	av_fault_addr = (unsigned long)info->si_addr;
	siglongjmp(av_fault_jmp, 1);
}

/* Install the SIGSEGV/SIGBUS handlers on an alternate stack; 0 or -1 (errno set). */
static int av_touch_init(void)
{
	stack_t ss;
	struct sigaction sa;

	memset(&ss, 0, sizeof(ss));
	ss.ss_sp = av_alt_stack;
	ss.ss_size = sizeof(av_alt_stack);
	if (sigaltstack(&ss, NULL))
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = av_on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) || sigaction(SIGBUS, &sa, NULL))
		return -1;
	return 0;
}

/* Read (write == 0) or write one byte at addr as the CPU would. */
static struct av_touch av_touch(unsigned long addr, int write, unsigned char value)
{
	static struct av_touch result;
	volatile unsigned char *p = (volatile unsigned char *)addr;

	memset(&result, 0, sizeof(result));
	av_fault_sig = 0;
	if (sigsetjmp(av_fault_jmp, 1) == 0) {
		if (write)
			*p = value;
		else
			result.value = *p;
	} else {
		result.sig = av_fault_sig;
		result.code = av_fault_code;
		result.addr = av_fault_addr;
	}
	return result;
}

/*
 * Stay on the CPU the process starts on (its forks inherit this). A newly faulted folio, and one
 * MADV_FREE marks lazily free, waits in a batch of the CPU that made it (mm/swap.c) and reaches
 * the LRU lists only when that CPU's batches are drained; MADV_FREE and MADV_PAGEOUT drain the
 * calling CPU's batches alone (lru_add_drain), and both skip a folio that is not on an LRU list.
 * A process moved to another CPU between two calls would leave its folios behind: MADV_PAGEOUT
 * would then keep a lazily freed page the same calls free on one CPU. Best effort: a CPU set we
 * may not narrow leaves the process unpinned.
 */
static void av_pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

#endif /* AV_TOUCH_H */
