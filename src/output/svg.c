/* A self-contained interactive flamegraph: SVG + inline CSS and JavaScript,
 * no external scripts, fonts or network.
 *
 * Layout: the stacks (already sorted by folded text) are merged into a tree
 * whose root "all" spans the full width; each frame is a rect whose width is
 * proportional to its inclusive samples, children stacked above their parent.
 * Frames narrower than 0.1% of all samples (and so all their descendants) are
 * omitted to keep the file small; they still count in their parents' widths.
 * Names are written as pyh_pframe_label() gives them (';' shown as ':').
 *
 * Interaction: hover shows a frame's function, file:line, samples and % in
 * its <title> tooltip and in the details line at the bottom; click zooms into
 * a frame (its ancestors stay, faded, full width); "Reset Zoom" or Escape
 * zooms out; "Search" or Ctrl-F asks for a regular expression, colours the
 * matching frames magenta and shows the share of samples they cover (the
 * union, so nested matches are not counted twice).
 *
 * XML: &, <, >, " and ' are escaped; control characters that XML 1.0 does
 * not allow are dropped; invalid UTF-8 bytes become U+FFFD. */
#include "profile/profile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SVG_WIDTH 1200
#define SVG_PAD 10
#define SVG_FRAME_H 16
#define SVG_TOP 60		/* title, subtitle, buttons */
#define SVG_BOTTOM 30		/* details line */
#define SVG_CHAR_W 7.0		/* 12px monospace, approximately */
#define SVG_MIN_PERMILLE 1	/* frames below 1/1000 of the samples are omitted */

struct svg_node {
	int frame;		/* profile frame id, -1 for the root "all" */
	int depth;
	int parent;
	int last_child;		/* -1 if none */
	uint64_t total;		/* inclusive samples */
	uint64_t start;		/* samples to the left of this frame */
	uint64_t cursor;	/* layout: where the next child starts */
};

struct svg_tree {
	struct svg_node *node;
	size_t n, cap;
	int max_depth;
	int err;
};

static int tree_push(struct svg_tree *t, int frame, int parent, int depth)
{
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 256;
		struct svg_node *nn;

		if (ncap > (size_t)INT32_MAX)
			return -1;
		nn = realloc(t->node, ncap * sizeof(*nn));
		if (!nn)
			return -1;
		t->node = nn;
		t->cap = ncap;
	}
	t->node[t->n] = (struct svg_node){ .frame = frame, .depth = depth, .parent = parent, .last_child = -1 };
	if (parent >= 0)
		t->node[parent].last_child = (int)t->n;
	if (depth > t->max_depth)
		t->max_depth = depth;
	return (int)t->n++;
}

/* Stacks arrive sorted by folded text, so stacks sharing a prefix are
 * contiguous: a frame's child can only be its last child. This also makes
 * node order a pre-order, which the layout relies on. */
static void tree_add(const int *ids, int n, uint64_t count, void *arg)
{
	struct svg_tree *t = arg;
	int cur = 0;

	if (t->err)
		return;
	t->node[0].total += count;
	for (int i = 0; i < n; i++) {
		int child = t->node[cur].last_child;

		if (child < 0 || t->node[child].frame != ids[i]) {
			child = tree_push(t, ids[i], cur, i + 1);
			if (child < 0) {
				t->err = -ENOMEM;
				return;
			}
		}
		t->node[child].total += count;
		cur = child;
	}
}

/* Decode one UTF-8 character at s; returns its length (1 for an invalid byte,
 * with *cp = 0xFFFD) and 0 at the end of the string. */
static int utf8_next(const unsigned char *s, uint32_t *cp)
{
	uint32_t c = s[0], min;
	int len;

	if (c == 0)
		return 0;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		len = 2, c &= 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3, c &= 0x0F, min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
		*cp = 0xFFFD;
		return 1;
	}
	*cp = c;
	return len;
}

/* Is cp a character XML 1.0 allows? */
static int xml_char_ok(uint32_t cp)
{
	if (cp < 0x20)
		return cp == '\t' || cp == '\n' || cp == '\r';
	return cp != 0xFFFE && cp != 0xFFFF;
}

/* Characters xml_put would write for s. */
static size_t xml_len(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0;
	uint32_t cp;
	int l;

	while ((l = utf8_next(u, &cp)) > 0) {
		n += xml_char_ok(cp);
		u += l;
	}
	return n;
}

/* Write at most max characters of s, escaped for XML text and attributes. */
static void xml_put(FILE *f, const char *s, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0;
	uint32_t cp;
	int l;

	while (n < max && (l = utf8_next(u, &cp)) > 0) {
		if (xml_char_ok(cp)) {
			switch (cp) {
			case '&': fputs("&amp;", f); break;
			case '<': fputs("&lt;", f); break;
			case '>': fputs("&gt;", f); break;
			case '"': fputs("&quot;", f); break;
			case '\'': fputs("&apos;", f); break;
			case '\t': case '\n': case '\r': fputc(' ', f); break;
			default:
				if (cp == 0xFFFD && l == 1)
					fputs("\xEF\xBF\xBD", f);
				else
					fwrite(u, 1, (size_t)l, f);
			}
			n++;
		}
		u += l;
	}
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h ^ (h >> 15);
}

static void frame_color(const struct pyh_pframe *fr, char *buf, size_t sz)
{
	uint32_t h = name_hash(fr->function);

	if (!fr->file) /* synthetic: process/thread roots, [truncated] */
		snprintf(buf, sz, "rgb(%u,%u,%u)", 160 + h % 40, 160 + h % 40, 200 + (h >> 8) % 40);
	else /* warm: red to yellow */
		snprintf(buf, sz, "rgb(%u,%u,%u)", 205 + h % 50, (h >> 8) % 230, (h >> 16) % 55);
}

static const char svg_script[] =
	"var W=1200,PAD=10,frames=[],zoomed=null,details,matched,resetBtn,total=0,lastTerm='';\n"
	"function init(){\n"
	" details=document.getElementById('details');matched=document.getElementById('matched');\n"
	" resetBtn=document.getElementById('reset');\n"
	" total=+document.documentElement.getAttribute('data-total');\n"
	" var gs=document.querySelectorAll('g.f');\n"
	" for(var i=0;i<gs.length;i++){\n"
	"  var g=gs[i],r=g.getElementsByTagName('rect')[0],t=g.getElementsByTagName('text')[0];\n"
	"  var tt=g.getElementsByTagName('title')[0].textContent;\n"
	"  var f={g:g,r:r,t:t,s:+g.getAttribute('data-s'),n:+g.getAttribute('data-n'),d:+g.getAttribute('data-d'),\n"
	"   label:tt.split('\\n')[0],info:tt.replace(/\\n/g,' \\u2014 '),fill:r.getAttribute('fill'),\n"
	"   x:+r.getAttribute('x'),w:+r.getAttribute('width')};\n"
	"  frames.push(f);\n"
	"  g.addEventListener('mouseover',(function(fr){return function(){details.textContent=fr.info;};})(f));\n"
	"  g.addEventListener('mouseout',function(){details.textContent=' ';});\n"
	"  g.addEventListener('click',(function(fr){return function(){zoom(fr);};})(f));\n"
	" }\n"
	" document.addEventListener('keydown',function(e){\n"
	"  if((e.ctrlKey||e.metaKey)&&(e.key==='f'||e.key==='F')){e.preventDefault();search();}\n"
	"  else if(e.key==='Escape'){unzoom();clearSearch();}\n"
	" });\n"
	"}\n"
	"function label(f,w){var c=Math.floor((w-6)/7),s=f.label;\n"
	" if(c<3)s='';else if(s.length>c)s=s.substring(0,c-2)+'..';f.t.textContent=s;}\n"
	"function place(f,x,w){f.r.setAttribute('x',x.toFixed(2));f.r.setAttribute('width',w.toFixed(2));\n"
	" f.t.setAttribute('x',(x+3).toFixed(2));label(f,w);f.g.removeAttribute('display');}\n"
	"function zoom(z){\n"
	" var sc=(W-2*PAD)/z.n;\n"
	" for(var i=0;i<frames.length;i++){var f=frames[i];\n"
	"  if(f.d<z.d&&f.s<=z.s&&f.s+f.n>=z.s+z.n){place(f,PAD,W-2*PAD);f.g.setAttribute('class','f anc');}\n"
	"  else if(f.d>=z.d&&f.s>=z.s&&f.s+f.n<=z.s+z.n){place(f,PAD+(f.s-z.s)*sc,f.n*sc);f.g.setAttribute('class','f');}\n"
	"  else f.g.setAttribute('display','none');}\n"
	" zoomed=z;resetBtn.removeAttribute('display');\n"
	"}\n"
	"function unzoom(){\n"
	" for(var i=0;i<frames.length;i++){var f=frames[i];place(f,f.x,f.w);f.g.setAttribute('class','f');}\n"
	" zoomed=null;resetBtn.setAttribute('display','none');\n"
	"}\n"
	"function clearSearch(){\n"
	" for(var i=0;i<frames.length;i++)frames[i].r.setAttribute('fill',frames[i].fill);\n"
	" matched.textContent=' ';\n"
	"}\n"
	"function search(){\n"
	" var term=prompt('Search frames (regular expression):',lastTerm);\n"
	" if(term===null)return;lastTerm=term;clearSearch();if(term==='')return;\n"
	" var re;try{re=new RegExp(term);}catch(e){alert('Bad regular expression: '+e.message);return;}\n"
	" var iv=[];\n"
	" for(var i=0;i<frames.length;i++){var f=frames[i];\n"
	"  if(f.d>0&&re.test(f.label)){f.r.setAttribute('fill','rgb(230,0,230)');iv.push([f.s,f.n]);}}\n"
	" iv.sort(function(a,b){return a[0]-b[0];});\n"
	" var sum=0,end=0;\n"
	" for(var k=0;k<iv.length;k++){var s=iv[k][0],e=s+iv[k][1];\n"
	"  if(s>=end){sum+=e-s;end=e;}else if(e>end){sum+=e-end;end=e;}}\n"
	" matched.textContent='Matched: '+(total?100*sum/total:0).toFixed(2)+'% ('+iv.length+' frames)';\n"
	"}\n";

int pyh_write_svg(const struct pyh_profile *p, const struct pyh_profile_meta *m, FILE *f)
{
	const char *title = m && m->title ? m->title : "pyhang profile";
	struct svg_tree t = { 0 };
	uint64_t total;
	double scale;
	int height, err = 0;

	if (!p || !f)
		return -EINVAL;
	if (tree_push(&t, -1, -1, 0) < 0) {
		err = -ENOMEM;
		goto cleanup;
	}
	pyh_profile_foreach_ids(p, tree_add, &t);
	if (t.err) {
		err = t.err;
		goto cleanup;
	}
	total = t.node[0].total;
	/* Pre-order: parents are laid out before their children, siblings in order. */
	for (size_t i = 0; i < t.n; i++) {
		struct svg_node *nd = &t.node[i];

		if (nd->parent >= 0) {
			nd->start = t.node[nd->parent].cursor;
			t.node[nd->parent].cursor += nd->total;
		}
		nd->cursor = nd->start;
	}
	height = SVG_TOP + (t.max_depth + 1) * SVG_FRAME_H + SVG_BOTTOM;
	scale = total ? (double)(SVG_WIDTH - 2 * SVG_PAD) / (double)total : 0;

	errno = 0;
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		   "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		   "viewBox=\"0 0 %d %d\" data-total=\"%" PRIu64 "\" onload=\"init()\">\n",
		SVG_WIDTH, height, SVG_WIDTH, height, total);
	fputs("<title>", f);
	xml_put(f, title, SIZE_MAX);
	fputs("</title>\n<style type=\"text/css\"><![CDATA[\n"
	      "text{font-family:monospace;font-size:12px;fill:#000}\n"
	      ".f{cursor:pointer} .f:hover rect{stroke:#000;stroke-width:0.5}\n"
	      ".anc rect{opacity:0.5} .btn{cursor:pointer;fill:#336}\n"
	      "#title{font-size:17px} #sub{fill:#555}\n"
	      "]]></style>\n<script type=\"text/ecmascript\"><![CDATA[\n", f);
	fputs(svg_script, f);
	fputs("]]></script>\n", f);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#fdf8f0\"/>\n", SVG_WIDTH, height);
	fprintf(f, "<text id=\"title\" x=\"%d\" y=\"22\" text-anchor=\"middle\">", SVG_WIDTH / 2);
	xml_put(f, title, SIZE_MAX);
	fprintf(f, "</text>\n<text id=\"sub\" x=\"%d\" y=\"40\" text-anchor=\"middle\">%" PRIu64 " samples",
		SVG_WIDTH / 2, total);
	if (m && m->rate_hz)
		fprintf(f, " at %u Hz", m->rate_hz);
	if (m && m->duration_s > 0)
		fprintf(f, " over %.1f s", m->duration_s);
	fputs(total ? "" : " (no samples)", f);
	fputs("</text>\n", f);
	fprintf(f, "<text id=\"reset\" class=\"btn\" x=\"%d\" y=\"22\" display=\"none\" onclick=\"unzoom()\">"
		   "Reset Zoom</text>\n", SVG_PAD);
	fprintf(f, "<text id=\"search\" class=\"btn\" x=\"%d\" y=\"22\" text-anchor=\"end\" onclick=\"search()\">"
		   "Search</text>\n", SVG_WIDTH - SVG_PAD);
	fprintf(f, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", SVG_PAD, height - 10);
	fprintf(f, "<text id=\"matched\" x=\"%d\" y=\"%d\" text-anchor=\"end\"> </text>\n",
		SVG_WIDTH - SVG_PAD, height - 10);

	for (size_t i = 0; total && i < t.n; i++) {
		const struct svg_node *nd = &t.node[i];
		static const struct pyh_pframe all = { "all", NULL, 0 };
		const struct pyh_pframe *fr = nd->frame < 0 ? &all : pyh_profile_frame(p, nd->frame);
		double x = SVG_PAD + (double)nd->start * scale, w = (double)nd->total * scale;
		double pct = 100.0 * (double)nd->total / (double)total;
		int y = height - SVG_BOTTOM - (nd->depth + 1) * SVG_FRAME_H;
		size_t len, fit;
		char color[32], *label;

		if (nd->total < total / 1000 * SVG_MIN_PERMILLE)
			continue;
		len = pyh_pframe_label(fr, NULL, 0);
		label = malloc(len + 1);
		if (!label) {
			err = -ENOMEM;
			goto cleanup;
		}
		pyh_pframe_label(fr, label, len + 1);
		frame_color(fr, color, sizeof(color));
		fprintf(f, "<g class=\"f\" data-s=\"%" PRIu64 "\" data-n=\"%" PRIu64 "\" data-d=\"%d\"><title>",
			nd->start, nd->total, nd->depth);
		xml_put(f, label, SIZE_MAX);
		fprintf(f, "\n%" PRIu64 " sample%s (%.2f%%)</title>", nd->total, nd->total == 1 ? "" : "s", pct);
		fprintf(f, "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" rx=\"2\" fill=\"%s\"/>",
			x, y, w, SVG_FRAME_H - 1, color);
		fprintf(f, "<text x=\"%.2f\" y=\"%d\">", x + 3, y + SVG_FRAME_H - 4);
		fit = w > 6 ? (size_t)((w - 6) / SVG_CHAR_W) : 0;
		if (fit >= 3) {
			if (xml_len(label) > fit) {
				xml_put(f, label, fit - 2);
				fputs("..", f);
			} else {
				xml_put(f, label, SIZE_MAX);
			}
		}
		fputs("</text></g>\n", f);
		free(label);
	}
	fputs("</svg>\n", f);
	if (fflush(f) || ferror(f))
		err = errno ? -errno : -EIO;
cleanup:
	free(t.node);
	return err;
}
