/*
 * What a Python handler's name may be: one rule for metatokend's
 * configuration ("runtime": "python") and for `metatoken invoke`'s one-shot
 * form, which tells a Python handler from a C one by it.
 */
#ifndef METATOKEN_COMMON_HANDLERNAME_H
#define METATOKEN_COMMON_HANDLERNAME_H

/*
 * Whether s is Python's module.function: identifiers joined by dots, two at
 * least (the module's may be joined by slashes too, as AWS's runtime takes
 * dir/index.handler, but the last separator, before the function, is a
 * dot). Bytes past ASCII may be letters of an identifier. 0 for NULL.
 */
int handlername_python_ok(const char *s);

#endif
