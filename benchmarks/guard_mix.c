/*
 * The kernel side of benchmarks/bench_model.py: the same operation mix on a 64-page anonymous
 * VMA (mprotect 2 pages read-only, guard-install 1 page, guard-remove 1 page, mprotect back),
 * timed over ITERATIONS rounds. Prints the mean microseconds per operation.
 * Usage: guard_mix ITERATIONS
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 100000;
	long page = 4096;
	struct timespec t0, t1;
	char *base = mmap(NULL, 64 * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < iterations; i++) {
		if (mprotect(base + 10 * page, 2 * page, PROT_READ) ||
		    madvise(base + 20 * page, page, MADV_GUARD_INSTALL) ||
		    madvise(base + 20 * page, page, MADV_GUARD_REMOVE) ||
		    mprotect(base + 10 * page, 2 * page, PROT_READ | PROT_WRITE)) {
			perror("guard_mix");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double us = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
	printf("%.4f\n", us / (iterations * 4.0));
	return 0;
}
