/* Writing one named frame. */
#include "output/frames_out.h"

#include "output/sanitize.h"

void pyh_text_frame(FILE *f, const char *indent, const struct pyh_frame *fr)
{
	const char *file = pyh_frame_file(fr);

	fputs(indent, f);
	pyh_fput_safe(f, pyh_frame_qualname(fr));
	if (file) {
		fputs(" (", f);
		pyh_fput_safe(f, file);
		if (fr->line != PYH_LINE_UNKNOWN)
			fprintf(f, ":%d", fr->line);
		fputc(')', f);
	}
	fputc('\n', f);
}

void pyh_json_frame(struct pyh_json *j, const struct pyh_frame *fr)
{
	pyh_json_object_begin(j, NULL);
	pyh_json_frame_fields(j, fr);
	pyh_json_object_end(j);
}

void pyh_json_frame_fields(struct pyh_json *j, const struct pyh_frame *fr)
{
	pyh_json_string(j, "kind", "python");
	pyh_json_string(j, "function", pyh_frame_function(fr));
	pyh_json_string(j, "qualname", pyh_frame_qualname(fr));
	pyh_json_string(j, "file", pyh_frame_file(fr));
	if (fr->line != PYH_LINE_UNKNOWN)
		pyh_json_int(j, "line", fr->line);
	else
		pyh_json_null(j, "line");
}
