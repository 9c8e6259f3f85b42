/* Writing one named frame. */
#include "output/frames_out.h"

void pyh_text_frame(FILE *f, const char *indent, const struct pyh_frame *fr)
{
	const char *file = pyh_frame_file(fr);

	if (!file)
		fprintf(f, "%s%s\n", indent, pyh_frame_qualname(fr));
	else if (fr->line != PYH_LINE_UNKNOWN)
		fprintf(f, "%s%s (%s:%d)\n", indent, pyh_frame_qualname(fr), file, fr->line);
	else
		fprintf(f, "%s%s (%s)\n", indent, pyh_frame_qualname(fr), file);
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
