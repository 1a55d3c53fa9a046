// SPDX-License-Identifier: Apache-2.0
/*
 * pc-bench: the measuring half of tools/bench (run.py drives it).
 *
 *   pc-bench gen    send frames out of an interface at full speed (or one
 *                   run in K, or one frame per flow every MS), many flows,
 *                   through BPF_PROG_TEST_RUN in BPF_F_TEST_XDP_LIVE_FRAMES
 *                   mode; --vary-dst sends a server's replies to them
 *   pc-bench sink   attach | read | detach the per-flow counting sink (with
 *                   --replies: the one counting replies at the clients)
 *   pc-bench pass   attach | detach an XDP_PASS program
 *   pc-bench cost   ns per packet of the XDP program attached to an
 *                   interface, through BPF_PROG_TEST_RUN repeat
 *   pc-bench xdp-filter-fill   list N source addresses in xdp-filter
 *   pc-bench echo | latency    UDP request/response round trips
 *   pc-bench http TARGET PATH SECONDS CONNS [TOKEN]   keep-alive GETs
 *                   against unix:/PATH or IPV4:PORT (httpload.c)
 *
 * Every result is one JSON object on stdout.  Exit status 0 on success,
 * 1 when a measurement went wrong (a verdict other than the expected one,
 * nothing sent), 2 on usage errors.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "bench.h"
#include "httpload.h"
#include "bench.skel.h"
#include "pclib.h"

#define PIN_DIR "/sys/fs/bpf/pc-bench"
#define SINK_PIN PIN_DIR "/sink_flows"
#define SINK_TOTAL_PIN PIN_DIR "/sink_total"
#define REPLY_PIN PIN_DIR "/reply_flows"
#define REPLY_TOTAL_PIN PIN_DIR "/reply_total"
#define XDPFILTER_V4 "/sys/fs/bpf/xdp-filter/filter_ipv4"
#define XDPFILTER_V6 "/sys/fs/bpf/xdp-filter/filter_ipv6"

static int usage(void)
{
	fprintf(stderr,
		"usage: pc-bench gen --ifname IF --src-mac MAC --dst-mac MAC "
		"--src ADDR --dst ADDR\n"
		"                    [--nsrc N] [--src-step N] [--flows N] "
		"[--sport N] [--dport N]\n"
		"                    [--proto udp|tcp] [--size BYTES] "
		"[--count N] [--duration S] [--every K]\n"
		"                    [--interval MS [--burst N] [--delay MS]] "
		"[--vary-dst]\n"
		"       pc-bench sink attach|read|detach --ifname IF "
		"[--port N] [--reset] [--replies]\n"
		"       pc-bench pass attach|detach --ifname IF\n"
		"       pc-bench cost --ifname IF [--pass] --src ADDR "
		"--dst ADDR [--nsrc N] [--src-step N]\n"
		"                     [--dport N] [--proto udp|tcp] [--size "
		"BYTES] [--repeat N]\n"
		"                     [--new N] --expect pass|drop\n"
		"       pc-bench xdp-filter-fill --src ADDR --nsrc N "
		"[--src-step N]\n"
		"       pc-bench echo --port N --duration S\n"
		"       pc-bench latency --dst ADDR --port N --count N "
		"[--size BYTES]\n"
		"       pc-bench http unix:/PATH|IPV4:PORT PATH SECONDS CONNS "
		"[TOKEN]\n");
	return 2;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	double d = t - now_s();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Milliseconds, 0 or more, fractions allowed; stored as seconds. */
static int parse_ms(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end) / 1e3;
	return errno || end == s || *end || !(*out >= 0) ? -1 : 0;
}

/* Options shared by the subcommands; each uses what it needs. */
struct opts {
	const char *ifname, *src, *dst, *src_mac, *dst_mac, *expect, *mix_src;
	unsigned long nsrc, src_step, flows, sport, dport, size, count, repeat,
		port, newflows, mix_every, every, burst;
	double duration, interval, delay; /* seconds */
	int tcp, reset, pass, vary_dst, replies;
};

static int parse_ulong(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 0);
	return errno || !*s || *end ? -1 : 0;
}

/* A number of seconds, more than 0. */
static int parse_seconds(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || !(*out > 0) ? -1 : 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"ifname", 1, 0, 'i'},
		{"src", 1, 0, 's'},
		{"dst", 1, 0, 'd'},
		{"src-mac", 1, 0, 'm'},
		{"dst-mac", 1, 0, 'M'},
		{"nsrc", 1, 0, 'n'},
		{"src-step", 1, 0, 'S'},
		{"flows", 1, 0, 'f'},
		{"sport", 1, 0, 'p'},
		{"dport", 1, 0, 'P'},
		{"proto", 1, 0, 'x'},
		{"size", 1, 0, 'z'},
		{"count", 1, 0, 'c'},
		{"duration", 1, 0, 'D'},
		{"every", 1, 0, 'r'},
		{"repeat", 1, 0, 'R'},
		{"port", 1, 0, 'o'},
		{"expect", 1, 0, 'e'},
		{"reset", 0, 0, 'X'},
		{"pass", 0, 0, 'a'},
		{"new", 1, 0, 'N'},
		{"mix-src", 1, 0, 'y'},
		{"mix-every", 1, 0, 'Y'},
		{"interval", 1, 0, 'I'},
		{"delay", 1, 0, 'L'},
		{"vary-dst", 0, 0, 'V'},
		{"replies", 0, 0, 'Q'},
		{"burst", 1, 0, 'B'},
		{0},
	};
	int c;

	*o = (struct opts){.nsrc = 1,
			   .src_step = 1,
			   .flows = 1,
			   .sport = 10000,
			   .dport = 5201,
			   .size = 64,
			   .repeat = 100000,
			   .port = 5201};
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		unsigned long *u = NULL;

		switch (c) {
		case 'i':
			o->ifname = optarg;
			break;
		case 's':
			o->src = optarg;
			break;
		case 'd':
			o->dst = optarg;
			break;
		case 'm':
			o->src_mac = optarg;
			break;
		case 'M':
			o->dst_mac = optarg;
			break;
		case 'e':
			o->expect = optarg;
			break;
		case 'y':
			o->mix_src = optarg;
			break;
		case 'Y':
			u = &o->mix_every;
			break;
		case 'n':
			u = &o->nsrc;
			break;
		case 'S':
			u = &o->src_step;
			break;
		case 'f':
			u = &o->flows;
			break;
		case 'p':
			u = &o->sport;
			break;
		case 'P':
			u = &o->dport;
			break;
		case 'z':
			u = &o->size;
			break;
		case 'c':
			u = &o->count;
			break;
		case 'r':
			u = &o->every;
			break;
		case 'R':
			u = &o->repeat;
			break;
		case 'o':
			u = &o->port;
			break;
		case 'N':
			u = &o->newflows;
			break;
		case 'I':
			if (parse_ms(optarg, &o->interval) || !o->interval)
				return -1;
			break;
		case 'L':
			if (parse_ms(optarg, &o->delay))
				return -1;
			break;
		case 'B':
			u = &o->burst;
			break;
		case 'V':
			o->vary_dst = 1;
			break;
		case 'Q':
			o->replies = 1;
			break;
		case 'X':
			o->reset = 1;
			break;
		case 'a':
			o->pass = 1;
			break;
		case 'D':
			if (parse_seconds(optarg, &o->duration))
				return -1;
			break;
		case 'x':
			if (!strcmp(optarg, "tcp"))
				o->tcp = 1;
			else if (strcmp(optarg, "udp"))
				return -1;
			break;
		default:
			return -1;
		}
		if (u && parse_ulong(optarg, u)) {
			fprintf(stderr, "pc-bench: bad number \"%s\"\n",
				optarg);
			return -1;
		}
	}
	if (o->nsrc == 0 || o->flows == 0 || o->flows > PCB_MAX_GEN_FLOWS ||
	    (o->vary_dst ? o->dport : o->sport) + (o->flows - 1) / o->nsrc >
		    65535 ||
	    o->sport > 65535 || o->dport > 65535 || o->size < 60 ||
	    o->size > 1500 || o->interval > 60 || o->delay > 60) {
		fprintf(stderr,
			"pc-bench: out of range: flows 1..%d, size "
			"60..1500, ports below 65536, --interval and --delay "
			"at most 60000 ms\n",
			PCB_MAX_GEN_FLOWS);
		return -1;
	}
	return 0;
}

static int ifindex_of(const char *name)
{
	int i = name ? (int)if_nametoindex(name) : 0;

	if (!i)
		fprintf(stderr, "pc-bench: no interface \"%s\"\n",
			name ? name : "(none)");
	return i;
}

/* "aa:bb:cc:dd:ee:ff" (hex bytes, ':' between) */
static int parse_mac(const char *s, unsigned char mac[6])
{
	for (int i = 0; s && i < 6; i++) {
		char *end;
		unsigned long b;

		if (!isxdigit((unsigned char)*s))
			return -1;
		b = strtoul(s, &end, 16);
		if (b > 0xff || (i < 5 && *end != ':'))
			return -1;
		mac[i] = (unsigned char)b;
		s = i < 5 ? end + 1 : end;
	}
	return s ? 0 : -1;
}

/* An address in IPv6 form (IPv4 mapped); *v6 says which family. */
static int parse_addr(const char *s, unsigned char a[16], int *v6)
{
	struct pc_prefix p = {.plen = 128};

	if (!s || pc_addr_parse(s, p.addr)) {
		fprintf(stderr, "pc-bench: bad address \"%s\"\n", s ? s : "");
		return -1;
	}
	memcpy(a, p.addr, 16);
	*v6 = !pc_prefix_is_v4(&p);
	return 0;
}

static uint32_t sum16(const void *p, size_t len, uint32_t s)
{
	const unsigned char *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		s += (uint32_t)b[len - 1] << 8;
	return s;
}

static uint16_t csum_final(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/*
 * A frame of o->size bytes: Ethernet, IPv4 or IPv6, then UDP or a TCP SYN,
 * from src:sport to dst:dport, with correct checksums.
 */
struct frame {
	unsigned char b[1514];
	size_t len;
	int v6;
	size_t l4;
};

/* Frame size (without FCS) must hold the headers. */
static int check_size(size_t size, int v6, int tcp)
{
	size_t need = 14 + (v6 ? 40 : 20) + (tcp ? 20 : 8);

	if (size >= need)
		return 0;
	fprintf(stderr,
		"pc-bench: --size %zu is below the %zu bytes of "
		"headers\n",
		size, need);
	return -1;
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void build_frame(struct frame *f, const unsigned char smac[6],
			const unsigned char dmac[6],
			const unsigned char src[16],
			const unsigned char dst[16], int v6, int tcp,
			uint16_t sport, uint16_t dport, size_t size)
{
	unsigned char *ip = f->b + 14, *l4;
	size_t l4len;
	uint32_t s = 0;

	memset(f, 0, sizeof(*f));
	f->len = size;
	f->v6 = v6;
	memcpy(f->b, dmac, 6);
	memcpy(f->b + 6, smac, 6);
	put16(f->b + 12, v6 ? 0x86dd : 0x0800);
	f->l4 = 14 + (v6 ? 40 : 20);
	l4 = f->b + f->l4;
	l4len = size - f->l4;
	if (v6) {
		ip[0] = 0x60;
		put16(ip + 4, (uint16_t)l4len);
		ip[6] = tcp ? IPPROTO_TCP : IPPROTO_UDP;
		ip[7] = 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		s = sum16(ip + 8, 32, 0);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(size - 14));
		ip[8] = 64;
		ip[9] = tcp ? IPPROTO_TCP : IPPROTO_UDP;
		memcpy(ip + 12, src + 12, 4);
		memcpy(ip + 16, dst + 12, 4);
		memcpy(ip + 10, (uint16_t[]){csum_final(sum16(ip, 20, 0))}, 2);
		s = sum16(ip + 12, 8, 0);
	}
	s += (uint32_t)(tcp ? IPPROTO_TCP : IPPROTO_UDP) + (uint32_t)l4len;
	put16(l4, sport);
	put16(l4 + 2, dport);
	if (tcp) {
		put16(l4 + 4, 0x1234); /* sequence number */
		l4[12] = 5 << 4;       /* data offset */
		l4[13] = 0x02;	       /* SYN */
		put16(l4 + 14, 65535); /* window */
	} else {
		put16(l4 + 4, (uint16_t)l4len);
	}
	s = sum16(l4, l4len, s);
	memcpy(l4 + (tcp ? 16 : 6), (uint16_t[]){csum_final(s)}, 2);
	if (!tcp && !memcmp(l4 + 6, "\0\0", 2))
		l4[6] = l4[7] = 0xff;
}

static struct bench_bpf *open_skel(void)
{
	struct bench_bpf *skel = bench_bpf__open();

	if (!skel)
		fprintf(stderr, "pc-bench: cannot open BPF object: %s\n",
			strerror(errno));
	return skel;
}

static int load_skel(struct bench_bpf *skel)
{
	int err = bench_bpf__load(skel);

	if (err)
		fprintf(stderr, "pc-bench: cannot load BPF object: %s\n",
			strerror(-err));
	return err;
}

/* ---- gen ---------------------------------------------------------------- */

static int cmd_gen(struct opts *o)
{
	unsigned char smac[6], dmac[6], src[16], dst[16], mix[16], *vary;
	int ifindex = ifindex_of(o->ifname), v6, dv6, mv6, err, fd;
	struct bench_bpf *skel;
	struct frame f;
	struct xdp_md ctx = {0};
	unsigned long long runs = 0, sent = 0, ticks = 0;
	double t0, t1, deadline;

	if (!ifindex)
		return 2;
	if (parse_mac(o->src_mac, smac) || parse_mac(o->dst_mac, dmac)) {
		fprintf(stderr,
			"pc-bench: gen needs --src-mac and --dst-mac\n");
		return 2;
	}
	if (parse_addr(o->src, src, &v6) || parse_addr(o->dst, dst, &dv6))
		return 2;
	if (v6 != dv6) {
		fprintf(stderr, "pc-bench: --src and --dst differ in family\n");
		return 2;
	}
	if (check_size(o->size, v6, o->tcp))
		return 2;
	if (o->mix_every && (parse_addr(o->mix_src, mix, &mv6) || mv6 != v6)) {
		fprintf(stderr, "pc-bench: --mix-every needs --mix-src of the "
				"same family\n");
		return 2;
	}
	if (!o->count && !o->duration) {
		fprintf(stderr, "pc-bench: gen needs --count or --duration\n");
		return 2;
	}
	if ((o->burst || o->delay) && !o->interval) {
		fprintf(stderr, "pc-bench: --burst and --delay go with "
				"--interval\n");
		return 2;
	}
	if (o->mix_every && o->vary_dst) {
		fprintf(stderr, "pc-bench: --mix-every and --vary-dst do not "
				"go together\n");
		return 2;
	}
	build_frame(&f, smac, dmac, src, dst, v6, o->tcp, (uint16_t)o->sport,
		    (uint16_t)o->dport, o->size);
	if (!(skel = open_skel()))
		return 1;
	skel->rodata->gen_ifindex = (__u32)ifindex;
	skel->rodata->gen_nflows = (__u32)o->flows;
	skel->rodata->gen_nsrc = (__u32)o->nsrc;
	skel->rodata->gen_src_step = (__u32)o->src_step;
	/* with --vary-dst the flows are the destination's: --dst and
	 * --dport are where they start, --src and --sport stay as given */
	vary = o->vary_dst ? dst : src;
	skel->rodata->gen_src_base = (__u32)(vary[12] << 24 | vary[13] << 16 |
					     vary[14] << 8 | vary[15]);
	skel->rodata->gen_sport_base =
		(__u16)(o->vary_dst ? o->dport : o->sport);
	skel->rodata->gen_vary_dst = (__u8)o->vary_dst;
	skel->rodata->gen_v6 = (__u8)v6;
	skel->rodata->gen_every = (__u32)(o->every ? o->every : 1);
	skel->rodata->gen_mix_every = (__u32)o->mix_every;
	if (o->mix_every)
		skel->rodata->gen_mix_src =
			(__u32)(mix[12] << 24 | mix[13] << 16 | mix[14] << 8 |
				mix[15]);
	skel->rodata->gen_tcp = (__u8)o->tcp;
	memcpy(skel->data->gen_tmpl, f.b, PCB_HDR_MAX);
	memcpy((void *)&skel->rodata->gen_tmpl_src, vary + 12, 4);
	memcpy((void *)&skel->rodata->gen_tmpl_sport,
	       f.b + f.l4 + (o->vary_dst ? 2 : 0), 2);
	memcpy((void *)&skel->rodata->gen_tmpl_ipsum, f.b + 14 + 10, 2);
	memcpy((void *)&skel->rodata->gen_tmpl_l4sum,
	       f.b + f.l4 + (o->tcp ? 16 : 6), 2);
	bpf_program__set_autoload(skel->progs.bench_sink, false);
	bpf_program__set_autoload(skel->progs.bench_pass, false);
	if (load_skel(skel)) {
		bench_bpf__destroy(skel);
		return 1;
	}
	fd = bpf_program__fd(skel->progs.bench_gen);
	ctx.ingress_ifindex = (__u32)ifindex;
	ctx.data_end = (__u32)f.len; /* the kernel wants the frame's size */
	/*
	 * One run of the program per frame; with --every K the program sends
	 * one run in K and drops the rest unsent, a lower rate with even
	 * spacing.  --count bounds the frames sent.  With --interval, a burst
	 * every MS milliseconds (after --delay MS): --burst frames, by default
	 * one per flow; the flows go on where the last burst left them.
	 */
	if (o->delay) /* --duration and the rate count from after it */
		sleep_until(now_s() + o->delay);
	t0 = now_s();
	deadline = o->duration ? t0 + o->duration : 0;
	for (;;) {
		LIBBPF_OPTS(bpf_test_run_opts, t, .data_in = f.b,
			    .data_size_in = (__u32)f.len, .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx),
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES,
			    .batch_size = 64, .repeat = 1 << 16);

		if (o->interval) {
			unsigned long burst = o->burst ? o->burst : o->flows;

			if (burst > INT_MAX / (o->every ? o->every : 1)) {
				fprintf(stderr, "pc-bench: burst too big\n");
				bench_bpf__destroy(skel);
				return 2;
			}
			t.repeat = (int)(burst * (o->every ? o->every : 1));
			/* a batch's pages are set up at every call: no more
			 * than the burst needs */
			if (t.repeat < (int)t.batch_size)
				t.batch_size = (__u32)t.repeat;
		}

		/* stop at --count: one frame per --every runs */
		if (o->count) {
			unsigned long long left =
				(o->count - sent) * (o->every ? o->every : 1);

			if (left < (unsigned long long)t.repeat)
				t.repeat = (int)left;
		}
		err = bpf_prog_test_run_opts(fd, &t);
		if (err) {
			fprintf(stderr, "pc-bench: test run: %s\n",
				strerror(errno));
			bench_bpf__destroy(skel);
			return 1;
		}
		runs += t.repeat;
		sent = skel->bss->gen_seq;
		t1 = now_s();
		if ((deadline && t1 >= deadline) ||
		    (o->count && sent >= o->count))
			break;
		if (o->interval) {
			double next = t0 + (double)++ticks * o->interval;

			if (deadline && next >= deadline)
				break;
			sleep_until(next);
		}
	}
	t1 = now_s();
	printf("{\"sent\": %llu, \"mix_sent\": %llu, \"runs\": %llu, "
	       "\"seconds\": %.6f, \"pps\": %.0f, \"size\": %lu, "
	       "\"flows\": %lu}\n",
	       sent, (unsigned long long)skel->bss->gen_mix_sent, runs, t1 - t0,
	       (double)sent / (t1 - t0), o->size, o->flows);
	bench_bpf__destroy(skel);
	return sent ? 0 : 1;
}

/* ---- sink / pass ------------------------------------------------------- */

static int attach_prog(int ifindex, int prog_fd)
{
	int err = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, NULL);

	if (err)
		fprintf(stderr, "pc-bench: attach XDP (native): %s\n",
			strerror(-err));
	return err;
}

static int sink_attach(struct opts *o, int ifindex)
{
	struct bench_bpf *skel = open_skel();
	int err;

	if (!skel)
		return 1;
	skel->rodata->sink_port = (__u16)o->port;
	skel->rodata->sink_replies = (__u8)o->replies;
	bpf_program__set_autoload(skel->progs.bench_gen, false);
	bpf_program__set_autoload(skel->progs.bench_pass, false);
	mkdir(PIN_DIR, 0700);
	unlink(o->replies ? REPLY_PIN : SINK_PIN);
	unlink(o->replies ? REPLY_TOTAL_PIN : SINK_TOTAL_PIN);
	bpf_map__set_pin_path(skel->maps.sink_flows,
			      o->replies ? REPLY_PIN : SINK_PIN);
	bpf_map__set_pin_path(skel->maps.sink_total,
			      o->replies ? REPLY_TOTAL_PIN : SINK_TOTAL_PIN);
	err = load_skel(skel) ||
	      attach_prog(ifindex, bpf_program__fd(skel->progs.bench_sink));
	bench_bpf__destroy(skel);
	if (!err)
		printf("{\"attached\": \"%s\"}\n", o->ifname);
	return err ? 1 : 0;
}

static int sink_read(struct opts *o)
{
	const char *pin = o->replies ? REPLY_PIN : SINK_PIN;
	int fd = bpf_obj_get(pin), ncpu = libbpf_num_possible_cpus();
	int tfd = bpf_obj_get(o->replies ? REPLY_TOTAL_PIN : SINK_TOTAL_PIN);
	struct pcb_flow key, next, *keys = NULL;
	__u64 *vals = calloc((size_t)ncpu, sizeof(__u64)), total = 0;
	__u64 matched = 0;
	__u32 zero = 0;
	size_t n = 0, cap = 0;
	int have = 0;

	if (fd < 0 || tfd < 0 || !vals) {
		fprintf(stderr, "pc-bench: no sink (%s)\n", pin);
		if (fd >= 0)
			close(fd);
		if (tfd >= 0)
			close(tfd);
		free(vals);
		return 1;
	}
	/* every packet counted, in flows the map holds or not */
	if (!bpf_map_lookup_elem(tfd, &zero, vals))
		for (int c = 0; c < ncpu; c++)
			matched += vals[c];
	printf("{\"flows\": {");
	while (!bpf_map_get_next_key(fd, have ? &key : NULL, &next)) {
		char addr[INET6_ADDRSTRLEN];
		__u64 sum = 0;

		key = next;
		have = 1;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			sum += vals[c];
		pc_addr_format(key.saddr, addr, sizeof(addr));
		printf("%s\"%s %u %s\": %llu", n ? ", " : "", addr, key.sport,
		       key.proto == IPPROTO_TCP ? "tcp" : "udp",
		       (unsigned long long)sum);
		total += sum;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			keys = realloc(keys, cap * sizeof(*keys));
			if (!keys)
				abort();
		}
		keys[n++] = key;
	}
	printf("}, \"packets\": %llu, \"nflows\": %zu, \"matched\": %llu}\n",
	       (unsigned long long)total, n, (unsigned long long)matched);
	for (size_t i = 0; o->reset && i < n; i++)
		bpf_map_delete_elem(fd, &keys[i]);
	if (o->reset) {
		memset(vals, 0, (size_t)ncpu * sizeof(__u64));
		bpf_map_update_elem(tfd, &zero, vals, BPF_ANY);
	}
	free(keys);
	free(vals);
	close(fd);
	close(tfd);
	return 0;
}

static int cmd_sink(int argc, char **argv)
{
	struct opts o;
	int ifindex;

	if (argc < 2 || parse_opts(argc - 1, argv + 1, &o))
		return usage();
	if (!strcmp(argv[1], "read"))
		return sink_read(&o);
	if (!(ifindex = ifindex_of(o.ifname)))
		return 2;
	if (!strcmp(argv[1], "attach"))
		return sink_attach(&o, ifindex);
	if (!strcmp(argv[1], "detach")) {
		bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL);
		unlink(o.replies ? REPLY_PIN : SINK_PIN);
		unlink(o.replies ? REPLY_TOTAL_PIN : SINK_TOTAL_PIN);
		return 0;
	}
	return usage();
}

static int cmd_pass(int argc, char **argv)
{
	struct bench_bpf *skel;
	struct opts o;
	int ifindex, err;

	if (argc < 2 || parse_opts(argc - 1, argv + 1, &o))
		return usage();
	if (!(ifindex = ifindex_of(o.ifname)))
		return 2;
	if (!strcmp(argv[1], "detach"))
		return bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, NULL) ? 1
									 : 0;
	if (strcmp(argv[1], "attach"))
		return usage();
	if (!(skel = open_skel()))
		return 1;
	bpf_program__set_autoload(skel->progs.bench_gen, false);
	bpf_program__set_autoload(skel->progs.bench_sink, false);
	err = load_skel(skel) ||
	      attach_prog(ifindex, bpf_program__fd(skel->progs.bench_pass));
	bench_bpf__destroy(skel);
	return err ? 1 : 0;
}

/* ---- cost --------------------------------------------------------------- */

/* The sample'th of 64 sources spread evenly over nsrc. */
static void sample_src(const unsigned char base[16], unsigned long nsrc,
		       unsigned long step, unsigned long sample,
		       unsigned long nsamples, unsigned char out[16])
{
	uint32_t b = (uint32_t)(base[12] << 24 | base[13] << 16 |
				base[14] << 8 | base[15]);
	uint32_t a = b + (uint32_t)(sample * nsrc / nsamples * step);

	memcpy(out, base, 16);
	out[12] = (unsigned char)(a >> 24);
	out[13] = (unsigned char)(a >> 16);
	out[14] = (unsigned char)(a >> 8);
	out[15] = (unsigned char)a;
}

static int cmd_cost(struct opts *o)
{
	static const unsigned char smac[6] = {2, 0, 0, 0, 0, 1},
				   dmac[6] = {2, 0, 0, 0, 0, 2};
	unsigned char base[16], dst[16], src[16];
	int ifindex = ifindex_of(o->ifname), v6, dv6, fd, want;
	unsigned long nsamples, runs = 0, calls = 0, wrong = 0;
	double ns_total = 0;
	struct xdp_md ctx = {0};
	__u32 prog_id = 0;
	struct frame f;

	if (!ifindex)
		return 2;
	if (parse_addr(o->src, base, &v6) || parse_addr(o->dst, dst, &dv6) ||
	    check_size(o->size, v6, o->tcp))
		return 2;
	if (v6 != dv6) {
		fprintf(stderr, "pc-bench: --src and --dst differ in family\n");
		return 2;
	}
	if (!o->expect ||
	    (strcmp(o->expect, "pass") && strcmp(o->expect, "drop"))) {
		fprintf(stderr, "pc-bench: cost needs --expect pass|drop\n");
		return 2;
	}
	want = !strcmp(o->expect, "pass") ? XDP_PASS : XDP_DROP;
	if (bpf_xdp_query_id(ifindex, XDP_FLAGS_DRV_MODE, &prog_id) ||
	    !prog_id) {
		fprintf(stderr, "pc-bench: no native XDP program on %s\n",
			o->ifname);
		return 1;
	}
	if ((fd = bpf_prog_get_fd_by_id(prog_id)) < 0) {
		fprintf(stderr, "pc-bench: program %u: %s\n", prog_id,
			strerror(errno));
		return 1;
	}
	ctx.ingress_ifindex = (__u32)ifindex;
	nsamples = o->nsrc < 64 ? o->nsrc : 64;
	/*
	 * Established: each sample's frame repeated (the first run of a flow
	 * creates its state, the rest find it).  New: o->newflows frames with
	 * distinct source ports, one run each, so every one is a first packet.
	 */
	for (unsigned long s = 0; s < nsamples; s++) {
		unsigned long n = o->newflows ? o->newflows / nsamples : 1;

		sample_src(base, o->nsrc, o->src_step, s, nsamples, src);
		for (unsigned long k = 0; k < n; k++) {
			LIBBPF_OPTS(bpf_test_run_opts, t, .ctx_in = &ctx,
				    .ctx_size_in = sizeof(ctx));

			build_frame(&f, smac, dmac, src, dst, v6, o->tcp,
				    (uint16_t)(o->sport + k),
				    (uint16_t)o->dport, o->size);
			t.data_in = f.b;
			t.data_size_in = (__u32)f.len;
			ctx.data_end = (__u32)f.len;
			t.repeat =
				o->newflows ? 1 : (int)(o->repeat / nsamples);
			if (bpf_prog_test_run_opts(fd, &t)) {
				fprintf(stderr, "pc-bench: test run: %s\n",
					strerror(errno));
				close(fd);
				return 1;
			}
			calls++;
			wrong += t.retval != (__u32)want;
			ns_total += (double)t.duration * t.repeat;
			runs += t.repeat;
		}
	}
	close(fd);
	printf("{\"prog_id\": %u, \"ns\": %.2f, \"runs\": %lu, \"wrong\": "
	       "%lu}\n",
	       prog_id, ns_total / (double)runs, runs, wrong);
	if (wrong)
		fprintf(stderr,
			"pc-bench: %lu of %lu test runs did not return "
			"\"%s\"\n",
			wrong, calls, o->expect);
	return wrong ? 1 : 0;
}

/* ---- xdp-filter ------------------------------------------------------ */

static int cmd_xdp_filter_fill(struct opts *o)
{
	unsigned char base[16], a[16];
	int v6, fd, ncpu = libbpf_num_possible_cpus();
	__u64 *flags = calloc((size_t)ncpu, sizeof(__u64));

	if (parse_addr(o->src, base, &v6) || !flags) {
		free(flags);
		return 2;
	}
	fd = bpf_obj_get(v6 ? XDPFILTER_V6 : XDPFILTER_V4);
	if (fd < 0) {
		fprintf(stderr,
			"pc-bench: xdp-filter map: %s (is xdp-filter "
			"loaded?)\n",
			strerror(errno));
		free(flags);
		return 1;
	}
	for (int c = 0; c < ncpu; c++)
		flags[c] = 1; /* xdp-filter's "match source address" */
	for (unsigned long i = 0; i < o->nsrc; i++) {
		sample_src(base, o->nsrc, o->src_step, i, o->nsrc, a);
		if (bpf_map_update_elem(fd, v6 ? (void *)a : (void *)(a + 12),
					flags, BPF_ANY)) {
			fprintf(stderr, "pc-bench: xdp-filter entry %lu: %s\n",
				i, strerror(errno));
			close(fd);
			free(flags);
			return 1;
		}
	}
	close(fd);
	free(flags);
	printf("{\"entries\": %lu}\n", o->nsrc);
	return 0;
}

/* ---- echo / latency ------------------------------------------------- */

static int cmd_echo(struct opts *o)
{
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)o->port)};
	int fd = socket(AF_INET6, SOCK_DGRAM, 0), off = 0;
	double end = now_s() + (o->duration ? o->duration : 10);
	unsigned long n = 0;
	char buf[2048];

	if (fd < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "pc-bench: echo: %s\n", strerror(errno));
		return 1;
	}
	while (now_s() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct sockaddr_in6 from;
		socklen_t fl = sizeof(from);
		ssize_t r;

		if (poll(&p, 1, 100) <= 0)
			continue;
		r = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from,
			     &fl);
		if (r > 0 && sendto(fd, buf, (size_t)r, 0,
				    (struct sockaddr *)&from, fl) == r)
			n++;
	}
	close(fd);
	printf("{\"echoed\": %lu}\n", n);
	return 0;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmd_latency(struct opts *o)
{
	unsigned char dst[16];
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6,
				  .sin6_port = htons((uint16_t)o->port)};
	int fd, v6;
	unsigned long lost = 0, n = 0, count = o->count ? o->count : 1000;
	double *rtt = calloc(count, sizeof(double)), sum = 0;
	char buf[2048] = {0};
	size_t len = o->size < sizeof(buf) ? o->size : sizeof(buf);

	if (!rtt || parse_addr(o->dst, dst, &v6)) {
		free(rtt);
		return 2;
	}
	memcpy(&sa.sin6_addr, dst, 16);
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "pc-bench: latency: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		free(rtt);
		return 1;
	}
	for (unsigned long i = 0; i < count; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		double t0 = now_s();

		memcpy(buf, &i, sizeof(i));
		if (send(fd, buf, len, 0) < 0) {
			lost++;
			continue;
		}
		for (;;) {
			unsigned long got = ~0ul;

			if (poll(&p, 1, 200) <= 0) {
				lost++;
				break;
			}
			if (recv(fd, buf, sizeof(buf), 0) >=
			    (ssize_t)sizeof(got))
				memcpy(&got, buf, sizeof(got));
			if (got == i) {
				rtt[n] = (now_s() - t0) * 1e6;
				sum += rtt[n++];
				break;
			}
		}
	}
	close(fd);
	if (!n) {
		fprintf(stderr, "pc-bench: latency: no replies\n");
		printf("{\"replies\": 0, \"lost\": %lu}\n", lost);
		free(rtt);
		return 1;
	}
	qsort(rtt, n, sizeof(double), dbl_cmp);
	printf("{\"replies\": %lu, \"lost\": %lu, \"p50_us\": %.1f, "
	       "\"p99_us\": %.1f, \"mean_us\": %.1f}\n",
	       n, lost, rtt[n / 2], rtt[(size_t)ceil(0.99 * (double)n) - 1],
	       sum / (double)n);
	free(rtt);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;

	if (argc < 2)
		return usage();
	libbpf_set_print(NULL);
	if (!strcmp(argv[1], "sink"))
		return cmd_sink(argc - 1, argv + 1);
	if (!strcmp(argv[1], "pass"))
		return cmd_pass(argc - 1, argv + 1);
	if (!strcmp(argv[1], "http") && (argc == 6 || argc == 7)) {
		double seconds;
		unsigned long conns;

		if (parse_seconds(argv[4], &seconds) ||
		    parse_ulong(argv[5], &conns) || conns > INT_MAX)
			return usage();
		return pc_httpload(argv[2], argv[3], seconds, (int)conns,
				   argc == 7 ? argv[6] : NULL);
	}
	if (parse_opts(argc - 1, argv + 1, &o))
		return usage();
	if (!strcmp(argv[1], "gen"))
		return cmd_gen(&o);
	if (!strcmp(argv[1], "cost"))
		return cmd_cost(&o);
	if (!strcmp(argv[1], "xdp-filter-fill"))
		return cmd_xdp_filter_fill(&o);
	if (!strcmp(argv[1], "echo"))
		return cmd_echo(&o);
	if (!strcmp(argv[1], "latency"))
		return cmd_latency(&o);
	return usage();
}
