/* SPDX-License-Identifier: MIT */
/*
 * repr.c - repr() of target objects, bounded. See repr.h.
 *
 * Writing is into one buffer with a running "reserve": every open container
 * keeps room for its closing bracket and a cut marker, so that wherever the
 * budget runs out, each open container can still be closed as ", …]".
 */
#include "python/repr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"
#include "python/pydict.h"
#include "python/reprfmt.h"

#define PYH_REPR_STACK 64		/* containers on the path, for cycles and depth */
#define PYH_REPR_CUT_ITEM ", " PYH_REPR_CUT
#define PYH_REPR_CHUNK 64		/* items read from the target at once */

/* What writing one value did. */
enum pyh_rstat {
	PYH_R_OK = 0,		/* written whole (or cut by a per-item limit, marked) */
	PYH_R_FULL = 1,		/* the budget ran out: it is closed and marked, stop */
	PYH_R_NONE = 2,		/* the budget ran out before anything of it was written */
};

struct pyh_rctx {
	struct pyh_objects *o;
	const struct pyh_repr_limits *lim;
	struct pyh_rbuf b;
	size_t reserve;			/* bytes kept free for closing what is open */
	uint64_t stack[PYH_REPR_STACK];
	int depth;
	int truncated;
};

/* Append within the budget that leaves `reserve` free. */
static int pyh_rput(struct pyh_rctx *c, const char *s)
{
	size_t n = strlen(s);

	if (c->b.full || n + c->reserve > pyh_rbuf_room(&c->b))
		return -ENOSPC;
	return pyh_rbuf_put(&c->b, s, n);
}

/* Append ignoring the reserve: only for what the reserve was kept for. */
static void pyh_rput_reserved(struct pyh_rctx *c, const char *s)
{
	pyh_rbuf_put(&c->b, s, strlen(s));
}

static enum pyh_rstat pyh_repr_value(struct pyh_rctx *c, uint64_t addr);
static enum pyh_rstat pyh_repr_obj(struct pyh_rctx *c, const struct pyh_obj *ob);

/* ------------------------------------------------------------ scalars */

static enum pyh_rstat pyh_repr_put(struct pyh_rctx *c, const char *s)
{
	return pyh_rput(c, s) ? PYH_R_NONE : PYH_R_OK;
}

/* Decimal digits, cut to max_chars. */
static enum pyh_rstat pyh_repr_digits(struct pyh_rctx *c, char *digits, size_t len)
{
	if (len > c->lim->max_chars) {
		size_t keep = c->lim->max_chars;

		digits[keep] = '\0';
		if (pyh_rput(c, digits) || pyh_rput(c, PYH_REPR_CUT))
			return PYH_R_NONE;
		c->truncated = 1;
		return PYH_R_OK;
	}
	return pyh_repr_put(c, digits);
}

static enum pyh_rstat pyh_repr_long(struct pyh_rctx *c, const struct pyh_obj *ob)
{
	/* 512 digits of 30 bits: 4625 decimal digits at most */
	char digits[PYH_LONG_MAX_DIGITS * 10 + 4];
	struct pyh_long *v = malloc(sizeof(*v));
	enum pyh_rstat st;
	int n;

	if (!v)
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	n = pyh_obj_long(c->o, ob, v);
	if (n == -E2BIG) {
		char msg[96];

		snprintf(msg, sizeof(msg), "<int of %zu bits" PYH_REPR_CUT ">",
			 v->ndigits * c->o->l.long_shift);
		free(v);
		c->truncated = 1;
		return pyh_repr_put(c, msg);
	}
	if (n) {
		free(v);
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	}
	n = pyh_fmt_long(v, c->o->ver.major == 2, digits, sizeof(digits));
	free(v);
	if (n < 0)
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	st = pyh_repr_digits(c, digits, (size_t)n);
	return st;
}

/* A text literal through pyh_fmt_text, within the reserve. */
static enum pyh_rstat pyh_repr_text(struct pyh_rctx *c, enum pyh_text_style style,
				    const uint32_t *cps, size_t n, size_t total)
{
	struct pyh_rbuf view = c->b;
	int rc;

	if (c->b.full || c->reserve >= pyh_rbuf_room(&c->b))
		return PYH_R_NONE;
	view.cap = c->b.cap - c->reserve;
	rc = pyh_fmt_text(&view, style, c->o->ver.minor, cps, n, total);
	c->b.len = view.len;
	c->b.p[c->b.len] = '\0';
	if (rc < 0)
		return PYH_R_NONE;
	if (rc > 0)
		c->truncated = 1;
	return rc == 2 ? PYH_R_FULL : PYH_R_OK;
}

static enum pyh_rstat pyh_repr_str(struct pyh_rctx *c, const struct pyh_obj *ob, int is_bytes)
{
	size_t max = c->lim->max_chars, len = 0;
	uint32_t *cps = calloc(max ? max : 1, sizeof(*cps));
	enum pyh_text_style style;
	enum pyh_rstat st;
	int rc;

	if (!cps)
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	if (is_bytes) {
		rc = pyh_obj_bytes(c->o, ob, (uint8_t *)cps, max, &len);
		if (!rc) {
			size_t n = len < max ? len : max;
			const uint8_t *raw = (const uint8_t *)cps;

			for (size_t i = n; i-- > 0;)	/* widen in place, from the end */
				cps[i] = raw[i];
		}
		style = c->o->ver.major == 2 ? PYH_TEXT_STR27 : PYH_TEXT_BYTES3;
	} else {
		rc = pyh_obj_str(c->o, ob, cps, max, &len);
		style = c->o->ver.major == 3 ? PYH_TEXT_STR3 :
			c->o->l.unicode27_unit == 2 ? PYH_TEXT_UNICODE27N : PYH_TEXT_UNICODE27;
	}
	if (rc) {
		free(cps);
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	}
	st = pyh_repr_text(c, style, cps, len < max ? len : max, len);
	free(cps);
	return st;
}

static enum pyh_rstat pyh_repr_float(struct pyh_rctx *c, const struct pyh_obj *ob)
{
	char buf[PYH_FLOAT_REPR_MAX];
	double v;

	if (pyh_obj_float(c->o, ob, &v))
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	pyh_fmt_float(v, buf, sizeof(buf));
	return pyh_repr_put(c, buf);
}

/* object.__repr__: "<module.Qualname object at 0x...>". */
static enum pyh_rstat pyh_repr_object(struct pyh_rctx *c, const struct pyh_obj *ob)
{
	const struct pyh_typeinfo *ti = &ob->ti;
	uint64_t addr = ob->addr;
	char name[2 * PYH_TYPE_NAME_MAX], buf[3 * PYH_TYPE_NAME_MAX];

	if (ti->kind == PYH_OBJ_INSTANCE27) {
		/* "<module.Name instance at 0x...>" from the classic class */
		uint64_t cls = 0, cname = 0, cdict = 0, mod = 0;
		char cn[PYH_TYPE_NAME_MAX], mn[PYH_TYPE_NAME_MAX];
		const struct pyh_objlayout *l = &c->o->l;

		if (pyh_obj_read(c->o, ob, l->instance27_class, &cls, sizeof(cls)) || !cls ||
		    pyh_mem_read_u64(c->o->pid, cls + l->class27_name, &cname) ||
		    pyh_mem_read_u64(c->o->pid, cls + l->class27_dict, &cdict) ||
		    pyh_obj_str_utf8(c->o, cname, cn, sizeof(cn)) < 0)
			return pyh_repr_put(c, PYH_REPR_UNREADABLE);
		if (pyh_dict_get_str(c->o, cdict, "__module__", &mod) ||
		    pyh_obj_str_utf8(c->o, mod, mn, sizeof(mn)) < 0)
			snprintf(mn, sizeof(mn), "?");
		snprintf(buf, sizeof(buf), "<%s.%s instance at 0x%llx>", mn, cn,
			 (unsigned long long)addr);
		return pyh_repr_put(c, buf);
	}
	if (ti->kind == PYH_OBJ_FUNCTION && ti->same_repr) {
		/* "<function outer.<locals>.inner at 0x...>" (2.7: its __name__) */
		uint64_t q = 0;

		if (pyh_obj_read(c->o, ob, c->o->l.func_qualname, &q, sizeof(q)) ||
		    pyh_obj_str_utf8(c->o, q, name, sizeof(name)) < 0)
			return pyh_repr_put(c, PYH_REPR_UNREADABLE);
		snprintf(buf, sizeof(buf), "<function %s at 0x%llx>", name, (unsigned long long)addr);
		return pyh_repr_put(c, buf);
	}
	pyh_obj_repr_name(c->o, ti, name, sizeof(name));
	snprintf(buf, sizeof(buf), "<%s object at 0x%llx>", name, (unsigned long long)addr);
	return pyh_repr_put(c, buf);
}

/* ------------------------------------------------------------ containers */

struct pyh_rshape {
	const char *open, *close;	/* "[" "]", "{" "}", "set([" "])" ... */
	const char *empty;		/* the whole repr when empty */
	const char *cycle;		/* the repr of a container inside itself */
};

static int pyh_on_path(const struct pyh_rctx *c, uint64_t addr)
{
	for (int i = 0; i < c->depth; i++)
		if (c->stack[i] == addr)
			return 1;
	return 0;
}

/* Write items (or dict pairs) of a container between sh->open and sh->close,
 * at most max_items, cut where the budget ends. is_tuple: one item gets a
 * trailing comma. */
static enum pyh_rstat pyh_repr_items(struct pyh_rctx *c, uint64_t addr, const struct pyh_rshape *sh,
				     const uint64_t *items, const struct pyh_kv *kv, size_t n,
				     size_t length, int is_tuple)
{
	size_t keep = strlen(sh->close) + strlen(PYH_REPR_CUT_ITEM);
	size_t start = c->b.len;
	enum pyh_rstat st = PYH_R_OK;

	size_t i;

	if (pyh_on_path(c, addr))
		return pyh_repr_put(c, sh->cycle);
	if (length == 0 && n == 0)
		return pyh_repr_put(c, sh->empty);
	/* open only when at least "[…]" can be closed */
	if (strlen(sh->open) + strlen(PYH_REPR_CUT) + strlen(sh->close) + c->reserve >
	    pyh_rbuf_room(&c->b) || pyh_rput(c, sh->open))
		return PYH_R_NONE;
	if (c->depth >= PYH_REPR_STACK || c->depth >= c->lim->max_depth) {
		c->truncated = 1;
		if (pyh_rput(c, PYH_REPR_CUT) || pyh_rput(c, sh->close)) {
			pyh_rbuf_rewind(&c->b, start);
			return PYH_R_NONE;
		}
		return PYH_R_OK;
	}
	c->stack[c->depth++] = addr;
	c->reserve += keep;
	for (i = 0; i < n; i++) {
		size_t mark = c->b.len;

		if (i && pyh_rput(c, ", ")) {
			st = PYH_R_NONE;
		} else if (kv) {
			st = pyh_repr_value(c, kv[i].key);
			if (st == PYH_R_OK)
				st = pyh_rput(c, ": ") ? PYH_R_NONE : pyh_repr_value(c, kv[i].value);
			else if (st == PYH_R_FULL)
				st = PYH_R_NONE;	/* a key cut short makes no item */
		} else {
			st = pyh_repr_value(c, items[i]);
		}
		if (st == PYH_R_NONE) {
			pyh_rbuf_rewind(&c->b, mark);
			break;
		}
		if (st == PYH_R_FULL) {
			i++;		/* written, closed and marked inside */
			break;
		}
	}
	c->reserve -= keep;
	c->depth--;
	if (st == PYH_R_NONE && i == 0) {
		/* not one item fits: "[…]" */
		c->truncated = 1;
		pyh_rput_reserved(c, PYH_REPR_CUT);
		pyh_rput_reserved(c, sh->close);
		return PYH_R_FULL;
	}
	if (st == PYH_R_NONE || i < length) {
		/* more items than shown (or fewer found than declared: they moved) */
		c->truncated = 1;
		pyh_rput_reserved(c, PYH_REPR_CUT_ITEM);
	} else if (st == PYH_R_OK && is_tuple && length == 1) {
		pyh_rput_reserved(c, ",");	/* fits in the reserve kept for ", …" */
	}
	pyh_rput_reserved(c, sh->close);
	return st == PYH_R_OK ? PYH_R_OK : PYH_R_FULL;
}

static enum pyh_rstat pyh_repr_seq(struct pyh_rctx *c, const struct pyh_obj *ob, int is_tuple)
{
	static const struct pyh_rshape tuple = { "(", ")", "()", "(...)" };
	static const struct pyh_rshape list = { "[", "]", "[]", "[...]" };
	size_t max = c->lim->max_items, len = 0;
	uint64_t *items = calloc(max ? max : 1, sizeof(*items));
	enum pyh_rstat st;

	if (!items || pyh_obj_seq(c->o, ob, items, max, &len)) {
		free(items);
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	}
	st = pyh_repr_items(c, ob->addr, is_tuple ? &tuple : &list, items, NULL,
			    len < max ? len : max, len, is_tuple);
	free(items);
	return st;
}

static enum pyh_rstat pyh_repr_dict(struct pyh_rctx *c, const struct pyh_obj *ob)
{
	static const struct pyh_rshape dict = { "{", "}", "{}", "{...}" };
	size_t max = c->lim->max_items, n = 0, len = 0;
	struct pyh_kv *kv = calloc(max ? max : 1, sizeof(*kv));
	enum pyh_rstat st;

	if (!kv || pyh_dict_items(c->o, ob, kv, max, &n, &len)) {
		free(kv);
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	}
	st = pyh_repr_items(c, ob->addr, &dict, NULL, kv, n, len, 0);
	free(kv);
	return st;
}

/* 3.x: "{1, 2}", "set()", "frozenset({1})", "Sub({1})"; 2.7: "set([1, 2])". */
static enum pyh_rstat pyh_repr_set(struct pyh_rctx *c, const struct pyh_obj *ob)
{
	const struct pyh_typeinfo *ti = &ob->ti;
	char open[PYH_TYPE_NAME_MAX + 4], empty[PYH_TYPE_NAME_MAX + 4], cycle[PYH_TYPE_NAME_MAX + 8];
	struct pyh_rshape sh = { open, "", empty, cycle };
	size_t max = c->lim->max_items, n = 0, len = 0;
	uint64_t *items = calloc(max ? max : 1, sizeof(*items));
	int bare = c->o->ver.major == 3 && ti->kind == PYH_OBJ_SET && ti->exact;
	enum pyh_rstat st;

	if (!items || pyh_set_items(c->o, ob, items, max, &n, &len)) {
		free(items);
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	}
	snprintf(cycle, sizeof(cycle), "%s(...)", ti->tp_name);
	if (c->o->ver.major == 2) {
		snprintf(open, sizeof(open), "%s([", ti->tp_name);
		snprintf(empty, sizeof(empty), "%s([])", ti->tp_name);
		sh.close = "])";
	} else {
		if (bare)
			snprintf(open, sizeof(open), "{");
		else
			snprintf(open, sizeof(open), "%s({", ti->tp_name);
		snprintf(empty, sizeof(empty), "%s()", ti->tp_name);
		sh.close = bare ? "}" : "})";
	}
	st = pyh_repr_items(c, ob->addr, &sh, items, NULL, n, len, 0);
	free(items);
	return st;
}

/* ------------------------------------------------------------ dispatch */

static enum pyh_rstat pyh_repr_value(struct pyh_rctx *c, uint64_t addr)
{
	struct pyh_obj ob;

	if (addr && addr == c->o->none)
		return pyh_repr_put(c, "None");
	if (pyh_obj_get(c->o, addr, &ob))
		return pyh_repr_put(c, PYH_REPR_UNREADABLE);
	return pyh_repr_obj(c, &ob);
}

static enum pyh_rstat pyh_repr_obj(struct pyh_rctx *c, const struct pyh_obj *ob)
{
	if (!ob->ti.same_repr)
		return pyh_repr_object(c, ob);
	switch (ob->ti.kind) {
	case PYH_OBJ_NONE:
		return pyh_repr_put(c, "None");
	case PYH_OBJ_BOOL: {
		int v;

		if (pyh_obj_bool(c->o, ob, &v))
			return pyh_repr_put(c, PYH_REPR_UNREADABLE);
		return pyh_repr_put(c, v ? "True" : "False");
	}
	case PYH_OBJ_INT27: {
		int64_t v;
		char buf[24];

		if (pyh_obj_int27(c->o, ob, &v))
			return pyh_repr_put(c, PYH_REPR_UNREADABLE);
		snprintf(buf, sizeof(buf), "%lld", (long long)v);
		return pyh_repr_put(c, buf);
	}
	case PYH_OBJ_LONG:
		return pyh_repr_long(c, ob);
	case PYH_OBJ_FLOAT:
		return pyh_repr_float(c, ob);
	case PYH_OBJ_BYTES:
		return pyh_repr_str(c, ob, 1);
	case PYH_OBJ_STR:
	case PYH_OBJ_UNICODE27:
		return pyh_repr_str(c, ob, 0);
	case PYH_OBJ_TUPLE:
		return pyh_repr_seq(c, ob, 1);
	case PYH_OBJ_LIST:
		return pyh_repr_seq(c, ob, 0);
	case PYH_OBJ_DICT:
		return pyh_repr_dict(c, ob);
	case PYH_OBJ_SET:
	case PYH_OBJ_FROZENSET:
		return pyh_repr_set(c, ob);
	default:
		return pyh_repr_object(c, ob);
	}
}

/* len() of the top-level object, -1 when it has none we read. */
static int64_t pyh_repr_length(struct pyh_objects *o, const struct pyh_obj *ob)
{
	size_t len = 0, n;
	uint8_t b;
	uint32_t u;
	uint64_t it;
	struct pyh_kv kv;
	int rc;

	switch (ob->ti.kind) {
	case PYH_OBJ_BYTES:
		rc = pyh_obj_bytes(o, ob, &b, 0, &len);
		break;
	case PYH_OBJ_STR:
	case PYH_OBJ_UNICODE27:
		rc = pyh_obj_str(o, ob, &u, 0, &len);
		break;
	case PYH_OBJ_TUPLE:
	case PYH_OBJ_LIST:
		rc = pyh_obj_seq(o, ob, &it, 0, &len);
		break;
	case PYH_OBJ_DICT:
		rc = pyh_dict_items(o, ob, &kv, 0, &n, &len);
		break;
	case PYH_OBJ_SET:
	case PYH_OBJ_FROZENSET:
		rc = pyh_set_items(o, ob, &it, 0, &n, &len);
		break;
	default:
		return -1;
	}
	return rc ? -1 : (int64_t)len;
}

size_t pyh_repr(struct pyh_objects *o, uint64_t addr, const struct pyh_repr_limits *lim,
		char *out, size_t outsz, struct pyh_repr_info *info)
{
	struct pyh_rctx c = { .o = o, .lim = lim };
	struct pyh_obj ob;
	size_t cap = outsz < lim->max_bytes ? outsz : lim->max_bytes;
	enum pyh_rstat st;

	memset(info, 0, sizeof(*info));
	info->length = -1;
	if (outsz == 0)
		return 0;
	pyh_rbuf_init(&c.b, out, cap);
	if (addr && addr == o->none) {
		snprintf(info->type, sizeof(info->type), "NoneType");
		info->readable = 1;
		st = pyh_repr_put(&c, "None");
	} else if (pyh_obj_get(o, addr, &ob) == 0) {
		info->readable = 1;
		pyh_obj_type_name(o, &ob.ti, info->type, sizeof(info->type));
		info->length = pyh_repr_length(o, &ob);
		st = pyh_repr_obj(&c, &ob);
	} else {
		pyh_rbuf_puts(&c.b, PYH_REPR_UNREADABLE);
		return c.b.len;
	}
	if (st == PYH_R_NONE) {
		pyh_rbuf_rewind(&c.b, 0);
		pyh_rbuf_puts(&c.b, PYH_REPR_CUT);
		c.truncated = 1;
	}
	info->truncated = c.truncated;
	return c.b.len;
}
