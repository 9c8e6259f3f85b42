/* Writing hang events: human text and JSON lines (--exec: exec.c). */
#include "watch/event.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel/syscalls.h"
#include "output/frames_out.h"
#include "output/json.h"
#include "output/sanitize.h"

void pyh_wevent_free(struct pyh_wevent *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->nth && i < PYH_WATCH_EV_MAX_THREADS; i++) {
		struct pyh_wthread *t = &e->th[i];

		for (int j = 0; j < t->nframes; j++)
			pyh_frame_release(&t->frames[j]);
		free(t->frames);
		t->frames = NULL;
		t->nframes = 0;
	}
	e->nth = 0;
}

static const char *pyh_callname(long nr, char *buf, size_t bufsz)
{
	const char *n = pyh_syscall_name(nr);

	if (n)
		return n;
	snprintf(buf, bufsz, "syscall_%ld", nr);
	return buf;
}

static void pyh_text_thread(FILE *f, const struct pyh_wevent *e, const struct pyh_wthread *t,
			    const char *role)
{
	char nb[32];

	fprintf(f, "  %sthread %d \"", role, (int)t->tid);
	pyh_fput_safe(f, t->comm);
	fputc('"', f);
	if (t->seconds >= 0 && strcmp(e->kind, "returned"))
		fprintf(f, ", %.1f s", t->seconds);
	fprintf(f, "\n");
	if (t->has_call) {
		fprintf(f, "    in %s(", pyh_callname(t->nr, nb, sizeof(nb)));
		pyh_fput_safe(f, t->detail);
		fprintf(f, ")%s", t->wchan[0] ? "  kernel: " : "");
		pyh_fput_safe(f, t->wchan);
		fputc('\n', f);
	}
	if (t->lock)
		fprintf(f, "    waits for lock 0x%llx%s", (unsigned long long)t->lock,
			t->holder ? "" : " (holder unknown)\n");
	if (t->lock && t->holder)
		fprintf(f, " held by thread %d\n", (int)t->holder);
	if (!t->nframes)
		fprintf(f, "    (no Python frames)\n");
	for (int i = 0; i < t->nframes; i++)
		pyh_text_frame(f, "    ", &t->frames[i]);
}

/* The task of an event: what it awaits and who awaits it; for a thread's
 * event, the task whose step that thread runs. */
static void pyh_text_task(FILE *f, const struct pyh_wevent *e)
{
	const struct pyh_wtaskev *t = &e->task;

	if (strcmp(e->kind, "awaiting") && strcmp(e->kind, "resumed")) {
		fputs("  in the step of asyncio task ", f);
		pyh_fput_safe(f, t->name[0] ? t->name : "[unnamed]");
		fprintf(f, " (0x%llx)\n", (unsigned long long)t->id);
		return;
	}
	if (t->await_kind[0]) {
		fprintf(f, "  awaits %s: ", t->await_kind);
		pyh_fput_safe(f, t->await_detail);
		fputc('\n', f);
	}
	if (t->nawaited_by) {
		fprintf(f, "  awaited by:");
		for (int i = 0; i < t->nawaited_by && i < PYH_WATCH_EV_MAX_AWAITERS; i++) {
			fputs(i ? ", " : " ", f);
			pyh_fput_safe(f, t->awaited_by_name[i][0] ? t->awaited_by_name[i] : "[unnamed]");
			fprintf(f, " (0x%llx)", (unsigned long long)t->awaited_by[i]);
		}
		if (t->awaited_by_more)
			fprintf(f, " and %d more", t->awaited_by_more);
		fprintf(f, "\n");
	}
}

int pyh_wevent_write_text(const struct pyh_wevent *e, FILE *f)
{
	char tbuf[32], nb[32];
	time_t secs = (time_t)e->wall;
	struct tm tm;
	const struct pyh_wthread *t0 = &e->th[0];

	localtime_r(&secs, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	fprintf(f, "%s.%03d ", tbuf, (int)((e->wall - (double)secs) * 1000.0) % 1000);
	if (!strcmp(e->kind, "blocked"))
		fprintf(f, "BLOCKED: thread %d of process %d has been in %s for %.1f s", (int)t0->tid,
			(int)e->pid, t0->has_call ? pyh_callname(t0->nr, nb, sizeof(nb)) : "a call",
			e->seconds);
	else if (!strcmp(e->kind, "returned"))
		if (e->ret_known)
			fprintf(f, "RETURNED: thread %d of process %d, %s returned %ld after %.1f s",
				(int)t0->tid, (int)e->pid, pyh_callname(t0->nr, nb, sizeof(nb)), e->ret,
				e->seconds);
		else
			fprintf(f, "RETURNED: thread %d of process %d woke up in %s after %.1f s", (int)t0->tid,
				(int)e->pid, pyh_callname(t0->nr, nb, sizeof(nb)), e->seconds);
	else if (!strcmp(e->kind, "spinning"))
		fprintf(f, "SPINNING: thread %d of process %d has run in the same Python frames for %.1f s",
			(int)t0->tid, (int)e->pid, e->seconds);
	else if (!strcmp(e->kind, "gil"))
		fprintf(f, "GIL: thread %d of process %d has waited %.1f s for the GIL", (int)t0->tid,
			(int)e->pid, e->seconds);
	else if (!strcmp(e->kind, "deadlock"))
		fprintf(f, "%s: %d threads of process %d wait for locks held by each other",
			e->possible ? "POSSIBLE DEADLOCK" : "DEADLOCK", e->nth, (int)e->pid);
	else if (!strcmp(e->kind, "stuck"))
		fprintf(f, "STUCK: every thread of process %d has been blocked for at least %.1f s",
			(int)e->pid, e->seconds);
	else if (!strcmp(e->kind, "awaiting") || !strcmp(e->kind, "resumed")) {
		fprintf(f, "%s: asyncio task ", !strcmp(e->kind, "awaiting") ? "AWAITING" : "RESUMED");
		pyh_fput_safe(f, e->task.name[0] ? e->task.name : "[unnamed]");
		if (!strcmp(e->kind, "awaiting"))
			fprintf(f, " (0x%llx) of process %d has awaited the same thing for %.1f s",
				(unsigned long long)e->task.id, (int)e->pid, e->seconds);
		else
			fprintf(f, " (0x%llx) of process %d %s after %.1f s", (unsigned long long)e->task.id,
				(int)e->pid, e->task.finished ? "finished" : "moved on", e->seconds);
	}
	else
		fprintf(f, "%s: process %d", e->kind, (int)e->pid);
	if (e->label[0]) {
		fputs("\n  process ", f);
		pyh_fput_safe(f, e->label);
		fputs(", cgroup ", f);
		pyh_fput_safe(f, e->cgroup[0] ? e->cgroup : "/");
		fputc('\n', f);
	} else {
		fprintf(f, "\n  process %d: ", (int)e->pid);
		pyh_fput_safe(f, e->cmdline);
		fprintf(f, " (Python %s)\n", e->version);
	}
	if (e->note[0]) {
		fputs("  ", f);
		pyh_fput_safe(f, e->note);
		fputc('\n', f);
	}
	if (e->has_task)
		pyh_text_task(f, e);
	for (int i = 0; i < e->nth && i < PYH_WATCH_EV_MAX_THREADS; i++)
		pyh_text_thread(f, e, &e->th[i],
				!strcmp(e->kind, "gil") ? (i ? "GIL holder: " : "waiting: ") :
				e->has_task && (!strcmp(e->kind, "awaiting") || !strcmp(e->kind, "resumed")) ?
				"the task's loop: " : "");
	fprintf(f, "\n");
	fflush(f);
	return ferror(f) ? -EIO : 0;
}

static void pyh_json_frames(struct pyh_json *j, const struct pyh_wthread *t)
{
	pyh_json_array_begin(j, "frames");
	for (int i = 0; i < t->nframes; i++)
		pyh_json_frame(j, &t->frames[i]);
	pyh_json_array_end(j);
}

static void pyh_json_call(struct pyh_json *j, const struct pyh_wthread *t)
{
	char nb[32];

	if (!t->has_call) {
		pyh_json_null(j, "syscall");
		return;
	}
	pyh_json_object_begin(j, "syscall");
	pyh_json_int(j, "nr", t->nr);
	pyh_json_string(j, "name", pyh_callname(t->nr, nb, sizeof(nb)));
	pyh_json_string(j, "detail", t->detail);
	pyh_json_array_begin(j, "args");
	for (int i = 0; i < 3; i++)
		pyh_json_int(j, NULL, (int64_t)t->args[i]);
	pyh_json_array_end(j);
	pyh_json_object_end(j);
}

static void pyh_json_thread_fields(struct pyh_json *j, const struct pyh_wthread *t)
{
	pyh_json_int(j, "tid", t->tid);
	pyh_json_string(j, "thread", t->comm);
	pyh_json_double(j, "seconds", t->seconds);
	pyh_json_call(j, t);
	pyh_json_string(j, "wchan", t->wchan);
	if (t->lock) {
		pyh_json_int(j, "lock", (int64_t)t->lock);
		if (t->holder)
			pyh_json_int(j, "holder", t->holder);
		else
			pyh_json_null(j, "holder");
	}
	pyh_json_frames(j, t);
}

static void pyh_json_addr(struct pyh_json *j, const char *key, uint64_t addr)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)addr);
	pyh_json_string(j, key, buf);
}

/* "task": the event's task (awaiting, resumed: with what it awaits and who
 * awaits it; a thread's event: the task whose step the thread runs). */
static void pyh_json_task(struct pyh_json *j, const struct pyh_wevent *e)
{
	const struct pyh_wtaskev *t = &e->task;
	int full = !strcmp(e->kind, "awaiting") || !strcmp(e->kind, "resumed");

	if (!e->has_task) {
		if (full || !strcmp(e->kind, "blocked") || !strcmp(e->kind, "spinning"))
			pyh_json_null(j, "task");
		return;
	}
	pyh_json_object_begin(j, "task");
	pyh_json_addr(j, "id", t->id);
	pyh_json_string(j, "name", t->name[0] ? t->name : NULL);
	if (full) {
		pyh_json_string(j, "state", t->state);
		if (t->await_kind[0]) {
			pyh_json_object_begin(j, "awaiting");
			pyh_json_string(j, "kind", t->await_kind);
			pyh_json_string(j, "detail", t->await_detail);
			pyh_json_object_end(j);
		} else {
			pyh_json_null(j, "awaiting");
		}
		pyh_json_array_begin(j, "awaited_by");
		for (int i = 0; i < t->nawaited_by && i < PYH_WATCH_EV_MAX_AWAITERS; i++) {
			pyh_json_object_begin(j, NULL);
			pyh_json_addr(j, "id", t->awaited_by[i]);
			pyh_json_string(j, "name", t->awaited_by_name[i][0] ? t->awaited_by_name[i] : NULL);
			pyh_json_object_end(j);
		}
		pyh_json_array_end(j);
		pyh_json_int(j, "awaited_by_more", t->awaited_by_more);
		if (!strcmp(e->kind, "resumed"))
			pyh_json_bool(j, "finished", t->finished);
	}
	pyh_json_object_end(j);
}

static void pyh_json_event(FILE *f, const struct pyh_wevent *e)
{
	struct pyh_json j;
	const struct pyh_wthread *t0 = &e->th[0];

	pyh_json_init(&j, f);
	pyh_json_object_begin(&j, NULL);
	pyh_json_string(&j, "event", e->kind);
	pyh_json_double(&j, "time", e->wall);
	pyh_json_int(&j, "pid", e->pid);
	pyh_json_string(&j, "cmdline", e->cmdline);
	pyh_json_string(&j, "python", e->version);
	if (e->ns_pid > 0)
		pyh_json_int(&j, "ns_pid", e->ns_pid);
	else
		pyh_json_null(&j, "ns_pid");
	pyh_json_string(&j, "cgroup", e->cgroup[0] ? e->cgroup : "/");
	if (e->label[0])
		pyh_json_string(&j, "label", e->label);
	pyh_json_int(&j, "tid", t0->tid);
	pyh_json_string(&j, "thread", t0->comm);
	pyh_json_double(&j, "seconds", e->seconds);
	pyh_json_call(&j, t0);
	pyh_json_string(&j, "wchan", t0->wchan);
	pyh_json_frames(&j, t0);
	if (!strcmp(e->kind, "returned")) {
		if (e->ret_known)
			pyh_json_int(&j, "return", e->ret);
		else
			pyh_json_null(&j, "return");
	}
	if (!strcmp(e->kind, "deadlock"))
		pyh_json_bool(&j, "possible", e->possible);
	pyh_json_task(&j, e);
	if (e->note[0])
		pyh_json_string(&j, "note", e->note);
	if (!strcmp(e->kind, "gil")) {
		if (e->nth > 1) {
			pyh_json_object_begin(&j, "holder");
			pyh_json_thread_fields(&j, &e->th[1]);
			pyh_json_object_end(&j);
		} else {
			pyh_json_null(&j, "holder");
		}
	}
	if (!strcmp(e->kind, "deadlock") || !strcmp(e->kind, "stuck")) {
		pyh_json_array_begin(&j, "threads");
		for (int i = 0; i < e->nth && i < PYH_WATCH_EV_MAX_THREADS; i++) {
			pyh_json_object_begin(&j, NULL);
			pyh_json_thread_fields(&j, &e->th[i]);
			pyh_json_object_end(&j);
		}
		pyh_json_array_end(&j);
	}
	pyh_json_object_end(&j);
}

int pyh_wevent_write_json(const struct pyh_wevent *e, FILE *f)
{
	pyh_json_event(f, e);
	fputc('\n', f);
	fflush(f);
	return ferror(f) ? -EIO : 0;
}

char *pyh_wevent_json_string(const struct pyh_wevent *e)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	pyh_json_event(f, e);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
