/* A small streaming JSON writer: exactly one valid JSON value, correct escaping. */
#ifndef PYH_OUTPUT_JSON_H
#define PYH_OUTPUT_JSON_H
#include <stdint.h>
#include <stdio.h>

#define PYH_JSON_MAX_DEPTH 32

struct pyh_json {
	FILE *f;
	int depth;
	int count[PYH_JSON_MAX_DEPTH]; /* values written at each level, for commas */
};

/* Output is compact (no spaces). Several values at top level are written one
 * per line (JSON lines): "\n" separates them, the caller ends the last line.
 * A key given at top level is ignored. Containers nested deeper than
 * PYH_JSON_MAX_DEPTH - 1 are written as null and their contents dropped, so
 * the output stays valid; an end without a begin is ignored.
 * Doubles use the shortest %g precision that reads back to the same value
 * (12.345 -> 12.345), in the C locale. Write errors are left to the FILE
 * (check ferror()). */
void pyh_json_init(struct pyh_json *j, FILE *f);
/* key is the member name inside an object, NULL inside an array or at top level. */
void pyh_json_object_begin(struct pyh_json *j, const char *key);
void pyh_json_object_end(struct pyh_json *j);
void pyh_json_array_begin(struct pyh_json *j, const char *key);
void pyh_json_array_end(struct pyh_json *j);
void pyh_json_string(struct pyh_json *j, const char *key, const char *value); /* NULL -> null */
void pyh_json_int(struct pyh_json *j, const char *key, int64_t value);
void pyh_json_double(struct pyh_json *j, const char *key, double value); /* NaN/inf -> null */
void pyh_json_bool(struct pyh_json *j, const char *key, int value);
void pyh_json_null(struct pyh_json *j, const char *key);

/* Write s as a quoted JSON string: ", \, C0 and C1 controls and DEL escaped
 * (\u001b, \u009b); valid UTF-8 passed through; each byte that does not start
 * a valid sequence (pyh_utf8_len: surrogates and overlong forms are invalid)
 * written as \ufffd. */
void pyh_json_write_string(FILE *f, const char *s);
#endif
