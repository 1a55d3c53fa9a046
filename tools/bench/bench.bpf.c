// SPDX-License-Identifier: GPL-2.0
/*
 * Benchmark helpers, not part of the gateway:
 *   bench_gen  - the traffic generator's program, run by pc-bench through
 *                BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: it
 *                stamps a flow's source address and port into the frame
 *                and redirects it out of the generator's interface;
 *   bench_sink - counts what arrives per flow at the sink, then drops it
 *                (or, as the reply sink, what arrives from the sink's
 *                port, per destination address and port);
 *   bench_pass - XDP_PASS, so a veth receives redirected frames when the
 *                configuration under test has no XDP program of its own.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "bench.h"

/* Set by pc-bench before load. */
const volatile __u32 gen_ifindex;
const volatile __u32 gen_nflows = 1;
const volatile __u32 gen_nsrc = 1;
const volatile __u32 gen_src_step = 1;
const volatile __u32 gen_src_base;   /* host order: IPv4, or IPv6's last 32 */
const volatile __u16 gen_sport_base; /* host order */
const volatile __u32 gen_every = 1;  /* send one run in gen_every */
const volatile __u32 gen_mix_every;  /* every Nth frame from gen_mix_src */
const volatile __u32 gen_mix_src;    /* host order, like gen_src_base */
const volatile __u8 gen_v6;
const volatile __u8 gen_tcp;
/* stamp the flow into the destination address and port instead (replies) */
const volatile __u8 gen_vary_dst;
/*
 * The template frame's headers.  Frames are recycled within a run, and a
 * receiver may have rewritten the headers of a frame it forwarded (MACs,
 * TTL, checksum), so every frame gets the whole header written afresh.
 */
__u8 gen_tmpl[PCB_HDR_MAX] = {1}; /* .data, written before load */
/* the template frame's values, as they sit in memory */
const volatile __u32 gen_tmpl_src;
const volatile __u16 gen_tmpl_sport;
const volatile __u16 gen_tmpl_ipsum;
const volatile __u16 gen_tmpl_l4sum;

const volatile __u16 sink_port = 5201; /* host order */
/* count by destination what comes from sink_port (replies to clients) */
const volatile __u8 sink_replies;

__u64 gen_seq;	    /* frames sent */
__u64 gen_mix_sent; /* of which from gen_mix_src */
__u64 gen_runs;	    /* program runs, sent or not */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, PCB_MAX_FLOWS);
	__type(key, struct pcb_flow);
	__type(value, __u64);
} sink_flows SEC(".maps");

/* Every packet counted, also those of flows past the map's capacity. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_total SEC(".maps");

/* Ones' complement sum of 16-bit words, folded. */
static __always_inline __u16 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)s;
}

/* RFC 1624: checksum of the template with src and sport replaced. */
static __always_inline __u16 csum_update(__u16 sum, __u32 src, __u16 sport,
					 int with_port)
{
	__u32 s = (__u16)~sum;

	s += (__u16) ~(gen_tmpl_src & 0xffff) + (__u16) ~(gen_tmpl_src >> 16);
	s += (src & 0xffff) + (src >> 16);
	if (with_port)
		s += (__u16)~gen_tmpl_sport + sport;
	return (__u16)~fold(s);
}

/* Stamp src and sport into the frame at these (constant) offsets. */
static __always_inline int stamp(void *data, void *end, __u32 ip_src,
				 __u32 ipsum, __u32 l4, __u32 l4sum_off,
				 __u32 src, __u16 sport)
{
	__u16 l4sum;

	if (data + l4sum_off + 2 > end)
		return -1;
	/* l4sum_off + 2 is the header length, a constant at each call */
	__builtin_memcpy(data, gen_tmpl, l4sum_off + 2);
	*(__u32 *)(data + ip_src) = src;
	*(__u16 *)(data + l4) = sport;
	if (ipsum)
		*(__u16 *)(data + ipsum) =
			csum_update(gen_tmpl_ipsum, src, 0, 0);
	l4sum = csum_update(gen_tmpl_l4sum, src, sport, 1);
	if (!l4sum && !gen_tcp)
		l4sum = 0xffff; /* UDP: 0 means "no checksum" */
	*(__u16 *)(data + l4sum_off) = l4sum;
	return 0;
}

SEC("xdp")
int bench_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	/* the address and port a flow is stamped into: IPv4's destination
	 * is 4 bytes past its source, IPv6's 16; ports 2 apart */
	__u32 a = gen_vary_dst ? (gen_v6 ? 16 : 4) : 0;
	__u32 p = gen_vary_dst ? 2 : 0;
	__u32 f, src;
	__u16 sport;
	__u64 seq;
	int err;

	/* thinning by a fixed ratio: a lower rate with the same spacing */
	if (gen_every > 1 && __sync_fetch_and_add(&gen_runs, 1) % gen_every)
		return XDP_DROP; /* not sent, not counted */
	seq = __sync_fetch_and_add(&gen_seq, 1);
	f = (__u32)seq % gen_nflows;
	src = bpf_htonl(gen_src_base + (f % gen_nsrc) * gen_src_step);
	sport = bpf_htons(gen_sport_base + f / gen_nsrc);
	if (gen_mix_every && seq % gen_mix_every == 0) {
		src = bpf_htonl(gen_mix_src);
		__sync_fetch_and_add(&gen_mix_sent, 1);
	}

	/* Ethernet 14; IPv4 20 (src at 12, sum at 10) or IPv6 40 (last 32
	 * bits of src at 20); UDP sum at 6, TCP sum at 16 */
	if (!gen_v6 && !gen_tcp)
		err = stamp(data, end, 26 + a, 24, 34 + p, 40, src, sport);
	else if (!gen_v6)
		err = stamp(data, end, 26 + a, 24, 34 + p, 50, src, sport);
	else if (!gen_tcp)
		err = stamp(data, end, 34 + a, 0, 54 + p, 60, src, sport);
	else
		err = stamp(data, end, 34 + a, 0, 54 + p, 70, src, sport);
	if (err)
		return XDP_ABORTED;
	return bpf_redirect(gen_ifindex, 0);
}

SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct pcb_flow key = {};
	__u16 proto, port;
	__u8 l4proto;
	__u32 zero = 0;
	void *l4, *addr;
	__u64 one = 1, *cnt;

	if (data + 14 > end)
		return XDP_PASS;
	proto = *(__u16 *)(data + 12);
	if (proto == bpf_htons(ETH_P_IP)) {
		__u8 ihl;

		if (data + 14 + 20 > end)
			return XDP_PASS;
		ihl = (*(__u8 *)(data + 14) & 0xf) * 4;
		if (ihl < 20)
			return XDP_PASS;
		l4proto = *(__u8 *)(data + 14 + 9);
		key.saddr[10] = key.saddr[11] = 0xff;
		addr = data + 14 + (sink_replies ? 16 : 12);
		__builtin_memcpy(&key.saddr[12], addr, 4);
		l4 = data + 14 + ihl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		if (data + 14 + 40 > end)
			return XDP_PASS;
		l4proto = *(__u8 *)(data + 14 + 6);
		addr = data + 14 + (sink_replies ? 24 : 8);
		__builtin_memcpy(key.saddr, addr, 16);
		l4 = data + 14 + 40;
	} else {
		return XDP_PASS;
	}
	if (l4proto != IPPROTO_UDP && l4proto != IPPROTO_TCP)
		return XDP_PASS;
	if (l4 + 4 > end)
		return XDP_PASS;
	/* the sink's port: the destination, or a reply's source */
	port = *(__u16 *)(l4 + (sink_replies ? 0 : 2));
	if (port != bpf_htons(sink_port))
		return XDP_PASS;
	/* the client's port: the source, or a reply's destination */
	key.sport = bpf_ntohs(*(__u16 *)(l4 + (sink_replies ? 2 : 0)));
	key.proto = l4proto;
	cnt = bpf_map_lookup_elem(&sink_total, &zero);
	if (cnt)
		*cnt += 1;
	cnt = bpf_map_lookup_elem(&sink_flows, &key);
	if (cnt)
		*cnt += 1;
	else
		bpf_map_update_elem(&sink_flows, &key, &one, BPF_NOEXIST);
	return XDP_DROP;
}

SEC("xdp")
int bench_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
