/* SPDX-License-Identifier: MIT */
/*
 * locals.c - a frame's local variables by name. See locals.h.
 */
#include "python/locals.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proc/mem.h"

/* 3.14 _PyStackRef: the low two bits tag the reference; both set is a
 * tagged int (an interpreter-internal value, never a named local's object). */
#define PYH_STACKREF_TAG_BITS 3u
#define PYH_STACKREF_INT_TAG 3u
/* f_executable is a _PyStackRef on 3.14 too; objects are 8-aligned. */
#define PYH_CODE_PTR_MASK (~(uint64_t)7)

/* The names of a code object's locals, with the kind of each. */
struct pyh_codenames {
	uint64_t names[PYH_LOCALS_MAX];
	uint8_t kinds[PYH_LOCALS_MAX];	/* enum pyh_local_kind, 0 for hidden (skipped) */
	size_t n;
	int truncated;
};

/* Append the str objects of the names tuple at tuple, each of `kind`. */
static int pyh_names_add(struct pyh_objects *o, uint64_t tuple, uint8_t kind,
			 struct pyh_codenames *cn)
{
	size_t room = PYH_LOCALS_MAX - cn->n, len = 0;
	struct pyh_obj ob;
	int rc;

	if (!tuple)
		return -EINVAL;
	rc = pyh_obj_get(o, tuple, &ob);
	if (!rc)
		rc = pyh_obj_seq(o, &ob, cn->names + cn->n, room, &len);
	if (rc)
		return rc;
	if (len > room) {
		cn->truncated = 1;
		len = room;
	}
	memset(cn->kinds + cn->n, kind, len);
	cn->n += len;
	return 0;
}

static int pyh_code_names(struct pyh_objects *o, uint64_t code, struct pyh_codenames *cn)
{
	const struct pyh_objlayout *l = &o->l;
	int rc;

	cn->n = 0;
	cn->truncated = 0;
	if (l->code_localsplusnames != PYH_NO_FIELD) {
		uint8_t kinds[PYH_LOCALS_MAX];
		struct pyh_obj kob;
		uint64_t names = 0, kbytes = 0;
		size_t klen = 0;
		struct pyh_mem_iov iov[2] = {
			{ code + l->code_localsplusnames, &names, 8 },
			{ code + l->code_localspluskinds, &kbytes, 8 },
		};

		rc = pyh_mem_readv(o->pid, iov, 2);
		if (rc)
			return rc;
		rc = pyh_names_add(o, names, 0, cn);
		if (rc)
			return rc;
		rc = pyh_obj_get(o, kbytes, &kob);
		if (!rc)
			rc = pyh_obj_bytes(o, &kob, kinds, sizeof(kinds), &klen);
		if (rc)
			return rc;
		if (klen < cn->n || (klen > cn->n && !cn->truncated))
			return -EINVAL;	/* one kind per name */
		for (size_t i = 0; i < cn->n; i++) {
			uint8_t k = kinds[i];

			if (k & l->co_fast_hidden)
				cn->kinds[i] = 0;	/* an inlined comprehension's variable */
			else if (k & l->co_fast_free)
				cn->kinds[i] = PYH_LOCAL_FREE;
			else if (k & l->co_fast_cell)
				cn->kinds[i] = PYH_LOCAL_CELL;
			else
				cn->kinds[i] = PYH_LOCAL_FAST;
		}
		return 0;
	}
	{
		uint64_t varnames = 0, cellvars = 0, freevars = 0;
		int32_t nlocals = -1;
		struct pyh_mem_iov iov[4] = {
			{ code + l->code_varnames, &varnames, 8 },
			{ code + l->code_cellvars, &cellvars, 8 },
			{ code + l->code_freevars, &freevars, 8 },
			{ code + l->code_nlocals, &nlocals, 4 },
		};

		rc = pyh_mem_readv(o->pid, iov, 4);
		if (rc)
			return rc;
		rc = pyh_names_add(o, varnames, PYH_LOCAL_FAST, cn);
		if (rc)
			return rc;
		/* f_localsplus holds co_nlocals locals, then the cells, then the frees */
		if (nlocals < 0 || (size_t)nlocals != cn->n)
			return -EINVAL;
		rc = pyh_names_add(o, cellvars, PYH_LOCAL_CELL, cn);
		if (!rc)
			rc = pyh_names_add(o, freevars, PYH_LOCAL_FREE, cn);
		return rc;
	}
}

/* Name text for output: UTF-8, control characters replaced. */
static int pyh_local_name(struct pyh_objects *o, uint64_t name, char *out, size_t outsz)
{
	int n = pyh_obj_str_utf8(o, name, out, outsz);

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c < 0x20 || c == 0x7f)
			out[i] = '?';
		else if (c == 0xc2 && i + 1 < n && (unsigned char)out[i + 1] < 0xa0)
			out[i] = out[i + 1] = '?';	/* C1 controls */
	}
	return 0;
}

int pyh_frame_locals(struct pyh_objects *o, uint64_t frame, uint64_t code,
		     struct pyh_local *out, size_t max, size_t *n, int *truncated,
		     const char **why)
{
	const struct pyh_objlayout *l = &o->l;
	struct pyh_codenames *cn = malloc(sizeof(*cn));
	uint64_t *vals = NULL, again = 0;
	size_t got = 0;
	int rc;

	*n = 0;
	*truncated = 0;
	*why = NULL;
	if (!cn) {
		*why = "out of memory";
		return -ENOMEM;
	}
	rc = pyh_code_names(o, code, cn);
	if (rc) {
		*why = "names of the locals unreadable";
		goto cleanup;
	}
	vals = calloc(cn->n ? cn->n : 1, sizeof(*vals));
	if (!vals) {
		*why = "out of memory";
		rc = -ENOMEM;
		goto cleanup;
	}
	{
		struct pyh_mem_iov iov[2] = {
			{ frame + l->frame_code, &again, 8 },
			{ frame + l->frame_localsplus, vals, cn->n * 8 },
		};

		rc = pyh_mem_readv(o->pid, iov, cn->n ? 2 : 1);
		if (rc) {
			*why = "frame unreadable";
			goto cleanup;
		}
	}
	if ((again & PYH_CODE_PTR_MASK) != (code & PYH_CODE_PTR_MASK)) {
		*why = "frame changed while read";
		rc = -ESTALE;
		goto cleanup;
	}
	for (size_t i = 0; i < cn->n; i++) {
		struct pyh_local *lc;
		uint64_t v = vals[i];
		size_t j;

		if (!cn->kinds[i])
			continue;
		if (l->frame_stackref) {
			if ((v & PYH_STACKREF_TAG_BITS) == PYH_STACKREF_INT_TAG)
				continue;
			v &= ~(uint64_t)PYH_STACKREF_TAG_BITS;
		}
		if (!v)
			continue;	/* unbound */
		if (got >= max) {
			*truncated = 1;
			break;
		}
		lc = &out[got];
		memset(lc, 0, sizeof(*lc));
		if (pyh_local_name(o, cn->names[i], lc->name, sizeof(lc->name))) {
			*why = "names of the locals unreadable";
			rc = -EINVAL;
			goto cleanup;
		}
		lc->kind = (enum pyh_local_kind)cn->kinds[i];
		lc->value = v;
		lc->readable = 1;
		if (lc->kind != PYH_LOCAL_FAST) {
			struct pyh_obj cell;
			uint64_t inner = 0;

			/* 3.11+: a cell variable's slot holds its value until
			 * MAKE_CELL has run at the start of the function */
			if (pyh_obj_get(o, v, &cell) == 0 && pyh_obj_cell(o, &cell, &inner) == 0) {
				if (!inner)
					continue;	/* an empty cell: unbound */
				lc->value = inner;
			} else if (l->code_localsplusnames == PYH_NO_FIELD ||
				   lc->kind == PYH_LOCAL_FREE) {
				lc->value = 0;
				lc->readable = 0;
			}
		}
		/* 2.7 keeps an argument that is also a cell variable twice:
		 * one name, the cell's value, in the first place (as locals()). */
		for (j = 0; j < got; j++)
			if (!strcmp(out[j].name, lc->name))
				break;
		if (j < got) {
			out[j].value = lc->value;
			out[j].readable = lc->readable;
			out[j].kind = lc->kind;
			continue;
		}
		got++;
	}
	if (cn->truncated)
		*truncated = 1;
	*n = got;
	rc = 0;
cleanup:
	free(vals);
	free(cn);
	return rc;
}
