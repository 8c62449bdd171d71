/*
 * pytest-anonvma: the runtime of an exported case (export_c.py inlines this file).
 *
 * The generated program defines AV_NMM (address spaces), AV_NFILES (memfds), AV_ARENA_BASE and
 * AV_ARENA_PAGES before this file, and av_run_step() after it. Each address space is a process:
 * the first one runs the steps in order and hands the steps of the others to them over pipes
 * (every pipe is made before any fork, so every process inherits all of them). Every check
 * prints "FAIL <step>: <what>" and returns 0 on a mismatch, 1 otherwise.
 */
#ifndef AV_REPLAY_H
#define AV_REPLAY_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define AV_UNUSED __attribute__((unused))
#define AV_PS 4096UL
#define AV_PAGE(n) (AV_ARENA_BASE + (unsigned long)(n) * AV_PS)

#define AV_PM_GUARD_REGION (1ULL << 58)
#define AV_PM_SWAP (1ULL << 62)
#define AV_PM_PRESENT (1ULL << 63)

static const char *av_step = "";
static int av_memfd[AV_NFILES + 1];
static int av_cmd[AV_NMM][2], av_done[AV_NMM][2];

static int av_run_step(int n);

static AV_UNUSED __attribute__((format(printf, 1, 2))) int av_fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s: ", av_step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return 0;
}

/* A system call's result: want_errno 0 means it must succeed. */
static AV_UNUSED int av_check_call(long ret, int want_errno, const char *want_name)
{
	int err = ret == -1 ? errno : 0;

	if (err == want_errno)
		return 1;
	if (!want_errno)
		return av_fail("failed with errno %d (%s); expected success", err, strerror(err));
	if (!err)
		return av_fail("succeeded; expected %s", want_name);
	return av_fail("failed with errno %d (%s); expected %s", err, strerror(err), want_name);
}

/* The address a successful mmap/mremap returned. */
static AV_UNUSED int av_check_addr(long ret, unsigned long want)
{
	if (ret == -1 || (unsigned long)ret == want)
		return 1;
	return av_fail("returned %#lx; expected %#lx", (unsigned long)ret, want);
}

/* memfd_create + ftruncate; the descriptor is remembered as file i (forks inherit it). */
static AV_UNUSED long av_make_memfd(int i, const char *name, unsigned long pages)
{
	int fd = memfd_create(name, 0);
	int err;

	if (fd == -1)
		return -1;
	if (ftruncate(fd, (off_t)(pages * AV_PS)) == 0) {
		av_memfd[i] = fd;
		return fd;
	}
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static const char *av_signame(int sig)
{
	return sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS" : sig ? "a signal" : "no fault";
}

/* Touch the first byte of pages first..last; want_value < 0 means any value. */
static AV_UNUSED int av_check_touch(unsigned long first, unsigned long last, int write,
				    unsigned char value, int want_sig, int want_value)
{
	unsigned long p;

	for (p = first; p <= last; p++) {
		struct av_touch t = av_touch(AV_PAGE(p), write, value);

		if (t.sig != want_sig)
			return av_fail("page %lu: %s; expected %s", p, av_signame(t.sig),
				       av_signame(want_sig));
		if (!t.sig && !write && want_value >= 0 && t.value != want_value)
			return av_fail("page %lu: read %#x; expected %#x", p, t.value, want_value);
	}
	return 1;
}

/* Page states from /proc/self/pagemap: G guard marker, P present or swapped, . empty. */
static AV_UNUSED int av_check_pages(unsigned long first, const char *want)
{
	static char got[AV_ARENA_PAGES + 1];
	size_t i, n = strlen(want);
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd == -1)
		return av_fail("cannot open /proc/self/pagemap: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		uint64_t e = 0;

		if (pread(fd, &e, sizeof(e), (off_t)(AV_PAGE(first + i) / AV_PS * sizeof(e))) !=
		    (ssize_t)sizeof(e)) {
			close(fd);
			return av_fail("short read of /proc/self/pagemap");
		}
		got[i] = e & AV_PM_GUARD_REGION ? 'G' : e & (AV_PM_PRESENT | AV_PM_SWAP) ? 'P' : '.';
	}
	got[n] = '\0';
	close(fd);
	if (strcmp(got, want))
		return av_fail("pages %lu..%lu are \"%s\"; expected \"%s\"", first,
			       first + n - 1, got, want);
	return 1;
}

struct av_vma {
	unsigned long start, end, offset;
	char perms[8];
	int has_file;		/* a path that is not a [pseudo] name or /dev/zero (shared anon) */
	char flags[512];	/* the VmFlags line after "VmFlags:" */
};

/* The VMA holding page from /proc/self/smaps; 0 if there is none. */
static AV_UNUSED int av_find_vma(unsigned long page, struct av_vma *v)
{
	unsigned long addr = AV_PAGE(page);
	char line[512];
	int found = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e, off;
		char perms[8];
		int n = 0;

		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %n", &s, &e, perms, &off, &n) == 4 && n) {
			char *path = line + n;

			found = s <= addr && addr < e;
			if (!found)
				continue;
			v->start = s;
			v->end = e;
			v->offset = off;
			strcpy(v->perms, perms);
			v->has_file = path[0] == '/' && strncmp(path, "/dev/zero", 9) != 0;
		} else if (found && !strncmp(line, "VmFlags:", 8)) {
			snprintf(v->flags, sizeof(v->flags), "%s", line + 8);
			fclose(f);
			return 1;
		}
	}
	fclose(f);
	return 0;
}

/* Does the VMA holding page have (present) or lack the smaps mnemonic? */
static AV_UNUSED int av_check_flag(unsigned long page, const char *mnemonic, const char *name,
				   int present)
{
	struct av_vma v;
	char token[8];

	if (!av_find_vma(page, &v))
		return av_fail("no VMA contains page %lu", page);
	snprintf(token, sizeof(token), " %s ", mnemonic);
	if ((strstr(v.flags, token) != NULL) == present)
		return 1;
	return av_fail("VMA %#lx-%#lx should %s %s (%s); VmFlags:%s", v.start, v.end,
		       present ? "have" : "lack", name, mnemonic, v.flags);
}

/* The protection (PROT_* bits) of the VMA holding page. */
static AV_UNUSED int av_check_prot(unsigned long page, int want)
{
	struct av_vma v;
	int prot;

	if (!av_find_vma(page, &v))
		return av_fail("no VMA contains page %lu", page);
	prot = (v.perms[0] == 'r' ? PROT_READ : 0) | (v.perms[1] == 'w' ? PROT_WRITE : 0) |
	       (v.perms[2] == 'x' ? PROT_EXEC : 0);
	if (prot == want)
		return 1;
	return av_fail("VMA %#lx-%#lx has protection %.3s; expected %d", v.start, v.end, v.perms,
		       want);
}

/* The file offset in pages of the VMA holding page (0 for anonymous VMAs, as maps shows). */
static AV_UNUSED int av_check_pgoff(unsigned long page, unsigned long want)
{
	struct av_vma v;
	unsigned long pgoff;

	if (!av_find_vma(page, &v))
		return av_fail("no VMA contains page %lu", page);
	pgoff = v.has_file ? v.offset / AV_PS : 0;
	if (pgoff == want)
		return 1;
	return av_fail("VMA %#lx-%#lx has pgoff %lu; expected %lu", v.start, v.end, pgoff, want);
}

static void av_draw(const unsigned long (*ext)[2], int n, unsigned long width, char *out)
{
	unsigned long p;
	int i;

	memset(out, ' ', width);
	out[width] = '\0';
	for (i = 0; i < n; i++)
		for (p = ext[i][0]; p < ext[i][1] && p < width; p++)
			out[p] = (char)('A' + i % 26);
}

/* VMA boundaries inside the arena from /proc/self/maps, as page extents [first, end). */
static AV_UNUSED int av_check_layout(const unsigned long (*want)[2], int nwant)
{
	static unsigned long got[AV_ARENA_PAGES][2];
	static char a[AV_ARENA_PAGES + 1], b[AV_ARENA_PAGES + 1];
	unsigned long lo = AV_ARENA_BASE, hi = AV_PAGE(AV_ARENA_PAGES), width = 1;
	char line[512];
	int i, n = 0, same;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return av_fail("cannot open /proc/self/maps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f) && n < (int)AV_ARENA_PAGES) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx", &s, &e) != 2 || e <= lo || s >= hi)
			continue;
		got[n][0] = ((s < lo ? lo : s) - lo) / AV_PS;
		got[n][1] = ((e > hi ? hi : e) - lo) / AV_PS;
		n++;
	}
	fclose(f);
	same = n == nwant;
	for (i = 0; same && i < n; i++)
		same = got[i][0] == want[i][0] && got[i][1] == want[i][1];
	if (same)
		return 1;
	for (i = 0; i < n; i++)
		width = got[i][1] > width ? got[i][1] : width;
	for (i = 0; i < nwant; i++)
		width = want[i][1] > width ? want[i][1] : width;
	av_draw(want, nwant, width, a);
	av_draw((const unsigned long (*)[2])got, n, width, b);
	return av_fail("VMA layout of the arena differs\n  expected  \"%s\"\n  actual    \"%s\"", a, b);
}

/* A forked address space: run the steps the first process sends until told to stop. */
static void av_serve(int self)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		int n, ok;

		if (read(av_cmd[self][0], &n, sizeof(n)) != (ssize_t)sizeof(n) || n < 0)
			_exit(0);
		ok = av_run_step(n);
		if (write(av_done[self][1], &ok, sizeof(ok)) != (ssize_t)sizeof(ok))
			_exit(1);
	}
}

/* fork(2); the child becomes address space `child` and serves its steps. */
static AV_UNUSED long av_fork(int child)
{
	pid_t pid = fork();

	if (pid == 0)
		av_serve(child);
	return pid;
}

/* Run step n in address space who (0 is this process); 1 if it passed. */
static int av_on(int who, int n)
{
	int ok = 0;

	if (who == 0)
		return av_run_step(n);
	if (write(av_cmd[who][1], &n, sizeof(n)) != (ssize_t)sizeof(n) ||
	    read(av_done[who][0], &ok, sizeof(ok)) != (ssize_t)sizeof(ok)) {
		printf("FAIL: address space %d did not answer step %d\n", who, n);
		return 0;
	}
	return ok;
}

static int av_setup(void)
{
	int i;

	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGCHLD, SIG_IGN);
	av_pin_cpu();
	for (i = 0; i <= AV_NFILES; i++)
		av_memfd[i] = -1;
	for (i = 1; i < AV_NMM; i++)
		if (pipe(av_cmd[i]) || pipe(av_done[i]))
			return -1;
	return av_touch_init();
}

/* Stop the other address spaces and report. */
static int av_finish(int status)
{
	int i, stop = -1;

	for (i = 1; i < AV_NMM; i++)
		if (write(av_cmd[i][1], &stop, sizeof(stop)) != (ssize_t)sizeof(stop))
			status = 1;
	printf(status ? "FAILED\n" : "PASS\n");
	return status;
}

#endif /* AV_REPLAY_H */
