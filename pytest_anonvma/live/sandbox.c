/*
 * pytest-anonvma live sandbox: one address space under test, driven over a socket.
 *
 * The controller (pytest_anonvma.live) spawns this program with a SOCK_SEQPACKET socket on fd 3
 * and its own pid as argv[1]. Each request is one datagram (struct av_request), each answer one
 * datagram (struct av_reply); the kernel keeps the boundaries, so the protocol needs no framing.
 * Every operation is one raw system call whose result or errno goes back unchanged; touches go
 * through touch.h so faults come back as data instead of killing the process.
 *
 * The program allocates nothing after start (no malloc, no stdio) so that the only mappings in
 * its address space besides the test's own are the ones the loader made at start-up.
 *
 * Fork uses clone(CLONE_PARENT): the same dup_mmap as fork(2), but the new sandbox is a child of
 * the controller, which can then reap it and read its exit status. The parent sends the child's
 * socket to the controller with SCM_RIGHTS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "touch.h"

enum av_op {
	AV_PING = 1,
	AV_MMAP = 2,
	AV_MUNMAP = 3,
	AV_MPROTECT = 4,
	AV_MADVISE = 5,
	AV_MLOCK = 6,
	AV_MUNLOCK = 7,
	AV_MREMAP = 8,
	AV_MEMFD = 9,
	AV_READ = 10,
	AV_WRITE = 11,
	AV_FORK = 12,
};

#define AV_NAME_MAX 256

#ifndef PR_THP_DISABLE_EXCEPT_ADVISED
#define PR_THP_DISABLE_EXCEPT_ADVISED (1 << 1)	/* uapi linux/prctl.h, Linux 6.18 */
#endif

struct av_request {
	uint32_t op;
	uint32_t name_len;
	uint64_t arg[6];
	char name[AV_NAME_MAX];
};

struct av_reply {
	int64_t ret;	/* the system call's return value (-1 on error) */
	int64_t err;	/* errno, 0 on success */
	int64_t sig;	/* touches: 0, SIGSEGV or SIGBUS */
	int64_t code;	/* touches: si_code */
	uint64_t addr;	/* touches: si_addr */
};

static int chan = 3;
static pid_t controller;

/* Die with the controller (the socket's EOF covers the rest). */
static void watch_controller(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != controller)
		_exit(1);
}

static void result(struct av_reply *rep, long r)
{
	rep->ret = r;
	rep->err = r == -1 ? errno : 0;
}

static long memfd(const struct av_request *req)
{
	char name[AV_NAME_MAX];
	size_t len = req->name_len < AV_NAME_MAX - 1 ? req->name_len : AV_NAME_MAX - 1;
	long fd;
	int saved;

	memcpy(name, req->name, len);
	name[len] = '\0';
	fd = syscall(SYS_memfd_create, name, 0);
	if (fd == -1)
		return -1;
	if (ftruncate((int)fd, (off_t)req->arg[0]) == 0)
		return fd;
	saved = errno;
	close((int)fd);
	errno = saved;
	return -1;
}

/* Send the reply, with fd attached when fd >= 0. */
static void answer(const struct av_reply *rep, int fd)
{
	struct iovec iov = { (void *)rep, sizeof(*rep) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd >= 0) {
		struct cmsghdr *cmsg;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	if (sendmsg(chan, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(*rep))
		_exit(0);
}

/* Fork the sandbox; the child carries on serving its own socket (the parent answers). */
static void fork_sandbox(struct av_reply *rep)
{
	int sv[2];
	long pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		result(rep, -1);
		answer(rep, -1);
		return;
	}
	pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		close(chan);
		close(sv[0]);
		chan = sv[1];
		watch_controller();
		return;
	}
	result(rep, pid);
	close(sv[1]);
	answer(rep, pid == -1 ? -1 : sv[0]);
	close(sv[0]);
}

static void serve(void)
{
	struct av_request req;
	struct av_reply rep;
	struct av_touch t;
	const uint64_t *a = req.arg;

	for (;;) {
		ssize_t n = recv(chan, &req, sizeof(req), 0);

		if (n <= 0)
			_exit(0);
		memset(&rep, 0, sizeof(rep));
		switch (req.op) {
		case AV_PING:
			result(&rep, getpid());
			break;
		case AV_MMAP:
			result(&rep, syscall(SYS_mmap, a[0], a[1], a[2], a[3], a[4], a[5]));
			break;
		case AV_MUNMAP:
			result(&rep, syscall(SYS_munmap, a[0], a[1]));
			break;
		case AV_MPROTECT:
			result(&rep, syscall(SYS_mprotect, a[0], a[1], a[2]));
			break;
		case AV_MADVISE:
			result(&rep, syscall(SYS_madvise, a[0], a[1], a[2]));
			break;
		case AV_MLOCK:
			result(&rep, syscall(SYS_mlock, a[0], a[1]));
			break;
		case AV_MUNLOCK:
			result(&rep, syscall(SYS_munlock, a[0], a[1]));
			break;
		case AV_MREMAP:
			result(&rep, syscall(SYS_mremap, a[0], a[1], a[2], a[3], a[4]));
			break;
		case AV_MEMFD:
			result(&rep, memfd(&req));
			break;
		case AV_READ:
		case AV_WRITE:
			t = av_touch(a[0], req.op == AV_WRITE, (unsigned char)a[1]);
			rep.ret = t.value;
			rep.sig = t.sig;
			rep.code = t.code;
			rep.addr = t.addr;
			break;
		case AV_FORK:
			fork_sandbox(&rep);
			continue;
		default:
			rep.ret = -1;
			rep.err = ENOSYS;
			break;
		}
		answer(&rep, -1);
	}
}

int main(int argc, char **argv)
{
	struct rlimit rl;

	if (argc != 2)
		return 2;
	controller = (pid_t)atol(argv[1]);
	watch_controller();
	/*
	 * No stray descriptors from the controller; no THP or khugepaged behind the test's back.
	 * EXCEPT_ADVISED (6.18) still lets an explicit MADV_COLLAPSE work as in any process; an
	 * older kernel refuses the flag and gets THP disabled altogether.
	 */
	syscall(SYS_close_range, 4, ~0U, 0);
	if (prctl(PR_SET_THP_DISABLE, 1, PR_THP_DISABLE_EXCEPT_ADVISED, 0, 0))
		prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	/* mlock cases must not hit a soft limit the model does not have. */
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_MEMLOCK, &rl);
	}
	av_pin_cpu();
	if (av_touch_init())
		return 3;
	serve();
	return 0;
}
