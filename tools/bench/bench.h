/* SPDX-License-Identifier: Apache-2.0 */
/* Shared between bench.bpf.c and pc-bench.c. */
#ifndef PCB_BENCH_H
#define PCB_BENCH_H

#include <linux/types.h>

#define PCB_MAX_FLOWS 65536	    /* flows the sink counts apart */
#define PCB_MAX_GEN_FLOWS (1 << 24) /* flows the generator cycles through */
#define PCB_HDR_MAX 80		    /* Ethernet + IPv6 + TCP is 74 */

/*
 * One flow by its client's end: the source of what reaches the sink, the
 * destination of a reply (the sink's end is always the sink's port).
 */
struct pcb_flow {
	__u8 saddr[16]; /* IPv4 mapped into ::ffff:0:0/96 */
	__u16 sport;	/* host order */
	__u8 proto;
	__u8 pad;
};

#endif
