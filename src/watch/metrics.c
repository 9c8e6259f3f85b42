/* Prometheus metrics for `pyhang watch`: the text format, and a small HTTP
 * server on a thread of its own that can never hold up the watcher. */
#include "watch/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "clock/clock.h"
#include "output/sanitize.h"

static const char *const pyh_kind_names[PYH_MK_COUNT] = {
	"blocked", "returned", "spinning", "gil", "deadlock", "stuck", "awaiting", "resumed",
};

static const char *const pyh_cap_names[PYH_MC_COUNT] = {
	"procs", "threads", "tracker", "map_update", "exec", "stalled",
};

const char *pyh_metrics_cap_name(int cap)
{
	return cap >= 0 && cap < PYH_MC_COUNT ? pyh_cap_names[cap] : NULL;
}

/* A kind that is a state of threads (pyhang_hung_threads). */
static int pyh_thread_kind(int k)
{
	return k != PYH_MK_RETURNED && k != PYH_MK_AWAITING && k != PYH_MK_RESUMED;
}

int pyh_metrics_kind_of(const char *name)
{
	for (int i = 0; name && i < PYH_MK_COUNT; i++)
		if (!strcmp(name, pyh_kind_names[i]))
			return i;
	return -1;
}

/* ---- the text format ---------------------------------------------------- */

struct pyh_mbuf {
	char *p;
	size_t len, cap;
	int overflow;
};

static void pyh_mb_printf(struct pyh_mbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void pyh_mb_printf(struct pyh_mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow || b->len + 1 >= b->cap) {
		b->overflow = 1;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->overflow = 1;
		b->p[b->len] = '\0';
		return;
	}
	b->len += (size_t)n;
}

/* A label value: \ " and newline escaped, other controls as '?', and each
 * byte that does not start valid UTF-8 (the rule of the JSON writer,
 * pyh_utf8_len: a lone surrogate is invalid) as U+FFFD, so that the whole
 * exposition stays UTF-8 whatever a target put in its command line. */
static void pyh_mb_label(struct pyh_mbuf *b, const char *v)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t n = strlen(v);

	for (size_t i = 0; i < n;) {
		size_t k = (size_t)pyh_utf8_len(s + i, n - i);

		if (b->overflow)
			return;
		if (k == 0) {
			pyh_mb_printf(b, "\xef\xbf\xbd");
			i++;
		} else if (k == 2 && s[i] == 0xc2 && s[i + 1] <= 0x9f) {
			pyh_mb_printf(b, "?");	/* a C1 control */
			i += 2;
		} else if (k > 1) {
			pyh_mb_printf(b, "%.*s", (int)k, (const char *)s + i);
			i += k;
		} else if (s[i] == '\\' || s[i] == '"') {
			pyh_mb_printf(b, "\\%c", s[i]);
			i++;
		} else if (s[i] == '\n') {
			pyh_mb_printf(b, "\\n");
			i++;
		} else {
			pyh_mb_printf(b, "%c", s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i]);
			i++;
		}
	}
}

size_t pyh_metrics_render_max(void)
{
	/* fixed part, then per process: 6 gauge lines and one info line whose
	 * label values grow at most 3x (an invalid byte becomes U+FFFD) */
	return 8192 + (size_t)PYH_METRICS_MAX_PROCS *
			      (6 * 96 + 128 + 3 * (sizeof(((struct pyh_metrics_proc *)0)->cmdline) +
						   sizeof(((struct pyh_metrics_proc *)0)->cgroup) + 32));
}

int pyh_metrics_render(const struct pyh_metrics_snapshot *s, char *out, size_t outsz)
{
	struct pyh_mbuf b = { .p = out, .cap = outsz };
	int np = s->nprocs < 0 ? 0 : s->nprocs > PYH_METRICS_MAX_PROCS ? PYH_METRICS_MAX_PROCS : s->nprocs;

	if (!outsz)
		return -ENOSPC;
	out[0] = '\0';
	pyh_mb_printf(&b, "# HELP pyhang_processes_watched Python processes watched now.\n"
			  "# TYPE pyhang_processes_watched gauge\n"
			  "pyhang_processes_watched %d\n", np);
	pyh_mb_printf(&b, "# HELP pyhang_hung_threads Threads of a watched process hung now, by kind "
			  "(blocked, deadlock, spinning, gil; stuck: the threads of a process none of "
			  "whose threads is runnable).\n"
			  "# TYPE pyhang_hung_threads gauge\n");
	for (int i = 0; i < np; i++)
		for (int k = 0; k < PYH_MK_COUNT; k++)
			if (pyh_thread_kind(k))
				pyh_mb_printf(&b, "pyhang_hung_threads{pid=\"%d\",kind=\"%s\"} %u\n",
					      (int)s->procs[i].pid, pyh_kind_names[k], s->procs[i].hung[k]);
	pyh_mb_printf(&b, "# HELP pyhang_hung_tasks asyncio tasks of a watched process at the same "
			  "await point for the threshold now (reported as awaiting, not idle).\n"
			  "# TYPE pyhang_hung_tasks gauge\n");
	for (int i = 0; i < np; i++)
		pyh_mb_printf(&b, "pyhang_hung_tasks{pid=\"%d\"} %u\n", (int)s->procs[i].pid,
			      s->procs[i].hung_tasks);
	pyh_mb_printf(&b, "# HELP pyhang_hang_events_total Hang events reported since watch started, by kind.\n"
			  "# TYPE pyhang_hang_events_total counter\n");
	for (int k = 0; k < PYH_MK_COUNT; k++)
		pyh_mb_printf(&b, "pyhang_hang_events_total{kind=\"%s\"} %llu\n", pyh_kind_names[k],
			      (unsigned long long)s->events[k]);
	pyh_mb_printf(&b, "# HELP pyhang_samples_total Python stacks read from watched processes.\n"
			  "# TYPE pyhang_samples_total counter\n"
			  "pyhang_samples_total %llu\n", (unsigned long long)s->samples);
	pyh_mb_printf(&b, "# HELP pyhang_thread_list_changed_total Threads not judged in a scan (or shown "
			  "without Python frames, said in the event): their process's thread list changed "
			  "while it was read.\n"
			  "# TYPE pyhang_thread_list_changed_total counter\n"
			  "pyhang_thread_list_changed_total %llu\n", (unsigned long long)s->list_changed);
	pyh_mb_printf(&b, "# HELP pyhang_lost_records_total Records of the BPF programs that were lost, by reason.\n"
			  "# TYPE pyhang_lost_records_total counter\n"
			  "pyhang_lost_records_total{reason=\"ring_buffer\"} %llu\n"
			  "pyhang_lost_records_total{reason=\"map_full\"} %llu\n",
		      (unsigned long long)s->lost_ringbuf, (unsigned long long)s->lost_map);
	pyh_mb_printf(&b, "# HELP pyhang_rescans_total Full rescans of the processes (SIGHUP).\n"
			  "# TYPE pyhang_rescans_total counter\n"
			  "pyhang_rescans_total %llu\n", (unsigned long long)s->rescans);
	pyh_mb_printf(&b, "# HELP pyhang_last_scan_timestamp_seconds When the watcher last finished a scan "
			  "(a heartbeat: it stops moving when the watcher is stuck).\n"
			  "# TYPE pyhang_last_scan_timestamp_seconds gauge\n"
			  "pyhang_last_scan_timestamp_seconds %.3f\n", s->last_scan);
	pyh_mb_printf(&b, "# HELP pyhang_capacity_refusals_total What a limit refused, by limit (never silent).\n"
			  "# TYPE pyhang_capacity_refusals_total counter\n");
	for (int c = 0; c < PYH_MC_COUNT; c++)
		pyh_mb_printf(&b, "pyhang_capacity_refusals_total{what=\"%s\"} %llu\n", pyh_cap_names[c],
			      (unsigned long long)s->capacity[c]);
	pyh_mb_printf(&b, "# HELP pyhang_stalled_reads Reads of targets that did not finish in time and are still blocked.\n"
			  "# TYPE pyhang_stalled_reads gauge\n"
			  "pyhang_stalled_reads %d\n", s->stalled_now);
	pyh_mb_printf(&b, "# HELP pyhang_cache_budget_total Cache entries dropped (evicted) or not kept (refused) for the memory budgets.\n"
			  "# TYPE pyhang_cache_budget_total counter\n"
			  "pyhang_cache_budget_total{what=\"evicted\"} %llu\n"
			  "pyhang_cache_budget_total{what=\"refused\"} %llu\n",
		      (unsigned long long)s->budget_evictions, (unsigned long long)s->budget_refusals);
	pyh_mb_printf(&b, "# HELP pyhang_process_info A watched process: Python version, command line, cgroup.\n"
			  "# TYPE pyhang_process_info gauge\n");
	for (int i = 0; i < np; i++) {
		const struct pyh_metrics_proc *p = &s->procs[i];

		pyh_mb_printf(&b, "pyhang_process_info{pid=\"%d\",python=\"", (int)p->pid);
		pyh_mb_label(&b, p->python);
		pyh_mb_printf(&b, "\",cmdline=\"");
		pyh_mb_label(&b, p->cmdline);
		pyh_mb_printf(&b, "\",cgroup=\"");
		pyh_mb_label(&b, p->cgroup);
		pyh_mb_printf(&b, "\"} 1\n");
	}
	return b.overflow ? -ENOSPC : (int)b.len;
}

int pyh_metrics_parse_addr(const char *s, char *host, size_t hostsz, char *port, size_t portsz,
			   char *err, size_t errsz)
{
	const char *colon, *h = s, *hend;
	char *end = NULL;
	long v;

	if (!s || !*s || strlen(s) > 256)
		goto bad;
	if (*s == '[') {
		hend = strchr(s, ']');
		if (!hend || hend[1] != ':')
			goto bad;
		h = s + 1;
		colon = hend + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			goto bad;	/* an IPv6 address needs brackets */
		hend = colon;
	}
	if (hend == h || (size_t)(hend - h) >= hostsz)
		goto bad;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || v < 0 || v > 65535 || colon[1] == '+' || colon[1] == '-')
		goto bad;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	snprintf(port, portsz, "%ld", v);
	return 0;
bad:
	snprintf(err, errsz, "invalid --metrics '%s': expected ADDRESS:PORT, e.g. 127.0.0.1:9464 or [::1]:9464",
		 s ? s : "");
	return -EINVAL;
}

/* ---- the server --------------------------------------------------------- */

enum { PYH_CONN_FREE = 0, PYH_CONN_READING, PYH_CONN_WRITING };

struct pyh_mconn {
	int fd;
	int state;
	uint64_t deadline_ms;
	uint64_t since_ms;
	char req[PYH_METRICS_REQ_MAX];
	size_t reqlen;
	char *resp;			/* malloc'd */
	size_t resplen, sent;
};

struct pyh_metrics {
	int lfd;
	uint64_t accept_paused_until;	/* the thread's own: no accept before this (ms) */
	uint64_t accept_errors;
	int wake[2];			/* the stop pipe */
	pthread_t thread;
	int running;
	char bound[128];
	pthread_mutex_t mu;
	struct pyh_metrics_snapshot *snap;	/* guarded by mu */
	struct pyh_metrics_snapshot *copy;	/* the thread's own */
	char *render;			/* pyh_metrics_render_max() bytes, the thread's own */
	struct pyh_mconn conns[PYH_METRICS_MAX_CONNS];
};

static void pyh_conn_close(struct pyh_mconn *c)
{
	if (c->state == PYH_CONN_FREE)
		return;
	close(c->fd);
	free(c->resp);
	c->resp = NULL;
	c->fd = -1;
	c->state = PYH_CONN_FREE;
	c->reqlen = c->resplen = c->sent = 0;
}

static void pyh_conn_respond(struct pyh_metrics *m, struct pyh_mconn *c, int head_only, int code,
			     const char *reason, const char *ctype, const char *body, size_t bodylen)
{
	char hdr[256];
	int hl = snprintf(hdr, sizeof(hdr),
			  "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			  code, reason, ctype, bodylen);

	(void)m;
	if (head_only)
		bodylen = 0;
	c->resp = malloc((size_t)hl + bodylen);
	if (!c->resp) {
		pyh_conn_close(c);
		return;
	}
	memcpy(c->resp, hdr, (size_t)hl);
	if (bodylen)
		memcpy(c->resp + hl, body, bodylen);
	c->resplen = (size_t)hl + bodylen;
	c->sent = 0;
	c->state = PYH_CONN_WRITING;
	c->deadline_ms = pyh_mono_ms() + PYH_METRICS_IO_MS;
}

static void pyh_conn_request(struct pyh_metrics *m, struct pyh_mconn *c)
{
	char method[16] = "", path[256] = "";
	const char *sp1, *sp2, *q;
	int head;

	sp1 = memchr(c->req, ' ', c->reqlen);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', c->reqlen - (size_t)(sp1 + 1 - c->req)) : NULL;
	if (!sp1 || !sp2 || sp1 - c->req >= (long)sizeof(method) || sp2 - sp1 - 1 >= (long)sizeof(path)) {
		static const char msg[] = "bad request\n";

		pyh_conn_respond(m, c, 0, 400, "Bad Request", "text/plain", msg, sizeof(msg) - 1);
		return;
	}
	memcpy(method, c->req, (size_t)(sp1 - c->req));
	memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
	q = strchr(path, '?');
	if (q)
		path[q - path] = '\0';
	head = !strcmp(method, "HEAD");
	if (strcmp(method, "GET") && !head) {
		static const char msg[] = "only GET /metrics\n";

		pyh_conn_respond(m, c, 0, 405, "Method Not Allowed", "text/plain", msg, sizeof(msg) - 1);
		return;
	}
	if (strcmp(path, "/metrics")) {
		static const char msg[] = "not found: the metrics are at /metrics\n";

		pyh_conn_respond(m, c, head, 404, "Not Found", "text/plain", msg, sizeof(msg) - 1);
		return;
	}
	/* Copy under the mutex, format outside it. */
	pthread_mutex_lock(&m->mu);
	memcpy(m->copy, m->snap, sizeof(*m->copy) - sizeof(m->copy->procs) +
				      (size_t)(m->snap->nprocs > 0 ? m->snap->nprocs : 0) *
					      sizeof(m->copy->procs[0]));
	pthread_mutex_unlock(&m->mu);
	{
		int n = pyh_metrics_render(m->copy, m->render, pyh_metrics_render_max());

		if (n < 0)
			n = (int)strlen(m->render);	/* cannot happen: sized for the worst case */
		pyh_conn_respond(m, c, head, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", m->render,
				 (size_t)n);
	}
}

static void pyh_conn_read(struct pyh_metrics *m, struct pyh_mconn *c)
{
	for (int i = 0; i < 4; i++) {
		ssize_t n = recv(c->fd, c->req + c->reqlen, sizeof(c->req) - 1 - c->reqlen, 0);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			pyh_conn_close(c);
			return;
		}
		c->reqlen += (size_t)n;
		c->req[c->reqlen] = '\0';
		if (strstr(c->req, "\r\n\r\n") || strstr(c->req, "\n\n")) {
			pyh_conn_request(m, c);
			return;
		}
		if (c->reqlen >= sizeof(c->req) - 1) {
			static const char msg[] = "request too large\n";

			pyh_conn_respond(m, c, 0, 431, "Request Header Fields Too Large", "text/plain", msg,
					 sizeof(msg) - 1);
			return;
		}
	}
}

static void pyh_conn_write(struct pyh_mconn *c)
{
	while (c->sent < c->resplen) {
		ssize_t n = send(c->fd, c->resp + c->sent, c->resplen - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			pyh_conn_close(c);
			return;
		}
		c->sent += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	pyh_conn_close(c);
}

/* A slot for a new connection: a free one, else the oldest still reading
 * (closed), else -1. */
static int pyh_conn_slot(struct pyh_metrics *m)
{
	int oldest = -1;

	for (int i = 0; i < PYH_METRICS_MAX_CONNS; i++) {
		if (m->conns[i].state == PYH_CONN_FREE)
			return i;
		if (m->conns[i].state == PYH_CONN_READING &&
		    (oldest < 0 || m->conns[i].since_ms < m->conns[oldest].since_ms))
			oldest = i;
	}
	if (oldest >= 0)
		pyh_conn_close(&m->conns[oldest]);
	return oldest;
}

static void pyh_accept(struct pyh_metrics *m)
{
	for (int k = 0; k < PYH_METRICS_MAX_CONNS; k++) {
		struct timeval tv = { .tv_sec = PYH_METRICS_IO_MS / 1000 };
		struct pyh_mconn *c;
		int slot, fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			/* Out of descriptors or memory: the connection stays queued and the
			 * socket readable; polling it again at once would spin. Pause. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				m->accept_errors++;
				m->accept_paused_until = pyh_mono_ms() + PYH_METRICS_ACCEPT_PAUSE_MS;
			}
			return;
		}
		slot = pyh_conn_slot(m);
		if (slot < 0) {
			close(fd);	/* every slot is answering: try again later */
			continue;
		}
		/* Non-blocking anyway; the timeouts are a second fence. */
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		c = &m->conns[slot];
		c->fd = fd;
		c->state = PYH_CONN_READING;
		c->since_ms = pyh_mono_ms();
		c->deadline_ms = c->since_ms + PYH_METRICS_IO_MS;
		c->reqlen = 0;
		c->resp = NULL;
		c->resplen = c->sent = 0;
	}
}

static void *pyh_metrics_thread(void *arg)
{
	struct pyh_metrics *m = arg;
	struct pollfd pfd[2 + PYH_METRICS_MAX_CONNS];
	int idx[2 + PYH_METRICS_MAX_CONNS];

	for (;;) {
		uint64_t now = pyh_mono_ms(), next = now + 1000;
		int n = 0, rc;

		pfd[n++] = (struct pollfd){ .fd = m->wake[0], .events = POLLIN };
		/* While accepting is paused, the listening socket is not polled (fd -1). */
		pfd[n++] = (struct pollfd){ .fd = now < m->accept_paused_until ? -1 : m->lfd, .events = POLLIN };
		if (now < m->accept_paused_until && m->accept_paused_until < next)
			next = m->accept_paused_until;
		for (int i = 0; i < PYH_METRICS_MAX_CONNS; i++) {
			struct pyh_mconn *c = &m->conns[i];

			if (c->state == PYH_CONN_FREE)
				continue;
			if (now >= c->deadline_ms) {
				pyh_conn_close(c);	/* a scraper that never reads or never writes */
				continue;
			}
			if (c->deadline_ms < next)
				next = c->deadline_ms;
			idx[n] = i;
			pfd[n++] = (struct pollfd){ .fd = c->fd,
						    .events = c->state == PYH_CONN_READING ? POLLIN : POLLOUT };
		}
		rc = poll(pfd, (nfds_t)n, (int)(next - now) + 1);
		if (rc < 0 && errno != EINTR)
			break;
		if (rc <= 0)
			continue;
		if (pfd[0].revents)
			break;
		for (int k = 2; k < n; k++) {
			struct pyh_mconn *c = &m->conns[idx[k]];

			if (!pfd[k].revents || c->state == PYH_CONN_FREE)
				continue;
			if (c->state == PYH_CONN_READING)
				pyh_conn_read(m, c);
			if (c->state == PYH_CONN_WRITING)
				pyh_conn_write(c);
		}
		if (pfd[1].revents & POLLIN)
			pyh_accept(m);
	}
	return NULL;
}

int pyh_metrics_start(const char *addr, struct pyh_metrics **out, char *err, size_t errsz)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai = NULL;
	struct pyh_metrics *m = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[128], port[16], hb[INET6_ADDRSTRLEN] = "?";
	sigset_t all, old;
	int rc, one = 1;

	*out = NULL;
	rc = pyh_metrics_parse_addr(addr, host, sizeof(host), port, sizeof(port), err, errsz);
	if (rc)
		return rc;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	m->lfd = m->wake[0] = m->wake[1] = -1;
	for (int i = 0; i < PYH_METRICS_MAX_CONNS; i++)
		m->conns[i].fd = -1;
	pthread_mutex_init(&m->mu, NULL);
	m->snap = calloc(1, sizeof(*m->snap));
	m->copy = calloc(1, sizeof(*m->copy));
	m->render = malloc(pyh_metrics_render_max());
	if (!m->snap || !m->copy || !m->render) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto cleanup;
	}
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc) {
		snprintf(err, errsz, "cannot serve metrics on %s: %s", addr, gai_strerror(rc));
		rc = -EINVAL;
		goto cleanup;
	}
	m->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (m->lfd < 0) {
		rc = -errno;
		snprintf(err, errsz, "cannot serve metrics on %s: socket: %s", addr, strerror(-rc));
		goto cleanup;
	}
	/* TIME_WAIT of a previous run only; a port someone listens on still fails. */
	setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(m->lfd, ai->ai_addr, ai->ai_addrlen) || listen(m->lfd, 64)) {
		rc = -errno;
		snprintf(err, errsz, "cannot serve metrics on %s: %s", addr, strerror(-rc));
		goto cleanup;
	}
	if (!getsockname(m->lfd, (struct sockaddr *)&ss, &sl)) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, hb, sizeof(hb));
			snprintf(m->bound, sizeof(m->bound), "[%s]:%u", hb, ntohs(s6->sin6_port));
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, hb, sizeof(hb));
			snprintf(m->bound, sizeof(m->bound), "%s:%u", hb, ntohs(s4->sin_port));
		}
	}
	if (pipe2(m->wake, O_CLOEXEC | O_NONBLOCK)) {
		rc = -errno;
		snprintf(err, errsz, "cannot serve metrics: pipe: %s", strerror(-rc));
		goto cleanup;
	}
	/* The thread takes no signals: SIGTERM/SIGHUP go to the watcher. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = -pthread_create(&m->thread, NULL, pyh_metrics_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		snprintf(err, errsz, "cannot serve metrics: thread: %s", strerror(-rc));
		goto cleanup;
	}
	m->running = 1;
	freeaddrinfo(ai);
	*out = m;
	return 0;
cleanup:
	if (ai)
		freeaddrinfo(ai);
	pyh_metrics_stop(m);
	return rc;
}

const char *pyh_metrics_bound(const struct pyh_metrics *m)
{
	return m ? m->bound : "";
}

void pyh_metrics_publish(struct pyh_metrics *m, const struct pyh_metrics_snapshot *s)
{
	int np;

	if (!m || !s)
		return;
	np = s->nprocs < 0 ? 0 : s->nprocs > PYH_METRICS_MAX_PROCS ? PYH_METRICS_MAX_PROCS : s->nprocs;
	pthread_mutex_lock(&m->mu);
	memcpy(m->snap, s, sizeof(*s) - sizeof(s->procs) + (size_t)np * sizeof(s->procs[0]));
	m->snap->nprocs = np;
	pthread_mutex_unlock(&m->mu);
}

void pyh_metrics_stop(struct pyh_metrics *m)
{
	if (!m)
		return;
	if (m->running) {
		ssize_t w = write(m->wake[1], "x", 1);

		(void)w;
		pthread_join(m->thread, NULL);
	}
	for (int i = 0; i < PYH_METRICS_MAX_CONNS; i++)
		pyh_conn_close(&m->conns[i]);
	if (m->lfd >= 0)
		close(m->lfd);
	if (m->wake[0] >= 0)
		close(m->wake[0]);
	if (m->wake[1] >= 0)
		close(m->wake[1]);
	pthread_mutex_destroy(&m->mu);
	free(m->snap);
	free(m->copy);
	free(m->render);
	free(m);
}
