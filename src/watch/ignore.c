/* Normal idleness: waits that are how a program sits idle, not hangs. */
#include "watch/ignore.h"

#include <fnmatch.h>
#include <string.h>

/* A built-in rule: the wait frame is one of the innermost `depth` frames and,
 * when outer is set, the frame right outside it (or, for loops that call a
 * helper first, one of the two outside it) is the idle loop. */
struct pyh_idle_rule {
	const char *wait;
	int depth;
	const char *outer;
	const char *text;
};

static const struct pyh_idle_rule pyh_idle_rules[] = {
	{ "*queue.py:get", 3, NULL,
	  "queue.Queue.get (a consumer waiting for work)" },
	{ "*Queue.py:get", 3, NULL,
	  "Queue.Queue.get (a consumer waiting for work, 2.7)" },
	{ "*concurrent/futures/thread.py:_worker", 1, NULL,
	  "concurrent.futures ThreadPoolExecutor worker waiting for work" },
	{ "*threading.py:wait", 2, "*concurrent/futures/*",
	  "threading Condition/Event.wait inside concurrent.futures" },
	{ "*threading.py:wait", 2, "*threading.py:_bootstrap*",
	  "threading.Event.wait directly in Thread._bootstrap" },
	{ "*selectors.py:select", 1, "*socketserver.py:serve_forever",
	  "socketserver serve_forever waiting for a request" },
	{ "*selectors.py:select", 1, "*asyncio/base_events.py:_run_once",
	  "asyncio event loop waiting for I/O (base_events._run_once)" },
	{ "*asyncio/base_events.py:_run_once", 1, NULL,
	  "asyncio event loop waiting for I/O (base_events._run_once)" },
	{ "*SocketServer.py:_eintr_retry", 1, "*SocketServer.py:serve_forever",
	  "SocketServer serve_forever waiting for a request (2.7)" },
	{ "*socketserver.py:serve_forever", 1, NULL,
	  "socketserver serve_forever waiting for a request" },
	{ "*SocketServer.py:serve_forever", 1, NULL,
	  "SocketServer serve_forever waiting for a request (2.7)" },
	{ "*multiprocessing/pool.py:*", 2, NULL,
	  "multiprocessing.pool helper threads" },
};

/* A built-in rule for asyncio tasks: an await of this kind, or (kind NULL)
 * the innermost frame of the chain matching `innermost`. */
struct pyh_task_idle_rule {
	const char *kind;
	const char *innermost;
	const char *text;
};

static const struct pyh_task_idle_rule pyh_task_idle_rules[] = {
	{ "sleep", NULL, "awaiting asyncio.sleep (a task waiting on purpose)" },
	{ "server", NULL, "awaiting Server.serve_forever (a server's accept loop)" },
	{ NULL, "*aiohttp/web_protocol.py:start",
	  "aiohttp's RequestHandler.start waiting for a keep-alive connection's next request" },
	{ NULL, "*aiohttp/web_protocol.py:RequestHandler.start",
	  "aiohttp's RequestHandler.start waiting for a keep-alive connection's next request" },
};

int pyh_ignore_frame_match(const char *pattern, const struct pyh_frame *f)
{
	const char *colon, *file;
	char filepat[1024];
	size_t flen;

	if (!pattern || !f || !f->ci)
		return 0;
	colon = strrchr(pattern, ':');
	if (!colon)
		return !fnmatch(pattern, pyh_frame_function(f), 0) ||
		       !fnmatch(pattern, pyh_frame_qualname(f), 0);
	flen = (size_t)(colon - pattern);
	if (flen >= sizeof(filepat))
		return 0;
	memcpy(filepat, pattern, flen);
	filepat[flen] = '\0';
	file = pyh_frame_file(f);
	if (!file || fnmatch(filepat, file, 0))
		return 0;
	return !fnmatch(colon + 1, pyh_frame_function(f), 0) ||
	       !fnmatch(colon + 1, pyh_frame_qualname(f), 0);
}

int pyh_ignore_match(const struct pyh_ignore *ig, const struct pyh_frame *frames, int n,
		     const char **why)
{
	if (why)
		*why = NULL;
	if (!ig || !frames || n <= 0)
		return 0;
	for (int u = 0; u < ig->nuser && u < PYH_IGNORE_MAX; u++)
		for (int i = 0; i < n; i++)
			if (pyh_ignore_frame_match(ig->user[u], &frames[i])) {
				if (why)
					*why = ig->user[u];
				return 1;
			}
	if (!ig->defaults)
		return 0;
	for (size_t r = 0; r < sizeof(pyh_idle_rules) / sizeof(pyh_idle_rules[0]); r++) {
		const struct pyh_idle_rule *rule = &pyh_idle_rules[r];

		for (int i = 0; i < n && i < rule->depth; i++) {
			if (!pyh_ignore_frame_match(rule->wait, &frames[i]))
				continue;
			if (rule->outer && !((i + 1 < n && pyh_ignore_frame_match(rule->outer, &frames[i + 1])) ||
					     (i + 2 < n && pyh_ignore_frame_match(rule->outer, &frames[i + 2]))))
				continue;
			if (why)
				*why = rule->text;
			return 1;
		}
	}
	return 0;
}

static int pyh_ignore_user(const struct pyh_ignore *ig, const struct pyh_frame *frames, int n,
			   const char **why)
{
	for (int u = 0; u < ig->nuser && u < PYH_IGNORE_MAX; u++)
		for (int i = 0; i < n; i++)
			if (pyh_ignore_frame_match(ig->user[u], &frames[i])) {
				if (why)
					*why = ig->user[u];
				return 1;
			}
	return 0;
}

int pyh_ignore_task_match(const struct pyh_ignore *ig, const struct pyh_frame *frames, int n,
			  const char *await_kind, const char **why)
{
	if (why)
		*why = NULL;
	if (!ig)
		return 0;
	if (frames && n > 0 && pyh_ignore_user(ig, frames, n, why))
		return 1;
	if (!ig->defaults)
		return 0;
	for (size_t r = 0; r < sizeof(pyh_task_idle_rules) / sizeof(pyh_task_idle_rules[0]); r++) {
		const struct pyh_task_idle_rule *rule = &pyh_task_idle_rules[r];

		if (rule->kind ? !(await_kind && !strcmp(rule->kind, await_kind))
			       : !(frames && n > 0 && pyh_ignore_frame_match(rule->innermost, &frames[0])))
			continue;
		if (why)
			*why = rule->text;
		return 1;
	}
	return 0;
}

void pyh_ignore_describe_task_defaults(FILE *f, const char *indent)
{
	for (size_t r = 0; r < sizeof(pyh_task_idle_rules) / sizeof(pyh_task_idle_rules[0]); r++) {
		const struct pyh_task_idle_rule *rule = &pyh_task_idle_rules[r];

		if (r && !rule->kind && !strcmp(rule->text, pyh_task_idle_rules[r - 1].text))
			continue;	/* the same rule by its qualified name */
		fprintf(f, "%s%s\n", indent, rule->text);
	}
}

void pyh_ignore_describe_defaults(FILE *f, const char *indent)
{
	for (size_t r = 0; r < sizeof(pyh_idle_rules) / sizeof(pyh_idle_rules[0]); r++) {
		const struct pyh_idle_rule *rule = &pyh_idle_rules[r];

		fprintf(f, "%s%s%s%s\n", indent, rule->wait, rule->outer ? " called from " : "",
			rule->outer ? rule->outer : "");
	}
}
