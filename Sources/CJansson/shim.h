#ifndef WSGATE_CJANSSON_SHIM_H
#define WSGATE_CJANSSON_SHIM_H
#include <jansson.h>

/*
 * Wrappers for jansson's function-like macros (json_typeof, json_is_*, json_boolean_value) and
 * its header-inline reference counting, so Swift calls plain functions.
 */

/// json_typeof is a macro reading the struct's type field.
static inline json_type wsgate_json_type(const json_t *json) { return json_typeof(json); }

/// json_is_object is a macro.
static inline int wsgate_json_is_object(const json_t *json) { return json_is_object(json); }

/// json_is_true is a macro.
static inline int wsgate_json_is_true(const json_t *json) { return json_is_true(json); }

/// json_decref is a header-inline function with atomic builtins; wrapped for a stable call.
static inline void wsgate_json_decref(json_t *json) { json_decref(json); }

/// json_incref is a header-inline function; wrapped for a stable call.
static inline json_t *wsgate_json_incref(json_t *json) { return json_incref(json); }

/// json_error_code is header-inline; the reason a parse failed, without the input text.
static inline enum json_error_code wsgate_json_error_code(const json_error_t *error) { return json_error_code(error); }

#endif
