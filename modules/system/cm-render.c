/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "strbuf.h"
#include "system/system.h"

/* What the configuration-management keys (puppet, mcollective, salt_minion,
 * chef) need from Python as cloud-init uses it: str() of a YAML scalar,
 * ConfigParser's reading and writing of an INI file (puppet.conf), and
 * PyYAML's yaml.dump(default_flow_style=False) (csr_attributes.yaml). */

/* repr() of a float: the shortest digits that read back the same, laid out
 * as Python's 'r' format does (exponent when the point would be before
 * the 4th decimal or after the 16th digit). */
char *system_py_float(double d) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        char digits[64], mant[32], *e, *s;
        int exp, decpt, r;
        size_t n = 0;

        if (isnan(d))
                return strdup("nan");
        if (isinf(d))
                return strdup(d < 0 ? "-inf" : "inf");
        for (int p = 0; p <= 17; p++) {
                snprintf(digits, sizeof(digits), "%.*e", p, d);
                if (strtod(digits, NULL) == d)
                        break;
        }
        /* digits: [-]D[.DDD]e[+-]XX */
        e = strchr(digits, 'e');
        if (!e)
                return NULL;
        exp = atoi(e + 1);
        *e = 0;
        for (s = digits + (digits[0] == '-'); *s; s++)
                if (*s != '.' && n < sizeof(mant) - 1)
                        mant[n++] = *s;
        mant[n] = 0;
        decpt = exp + 1;
        r = strbuf_puts(&out, digits[0] == '-' ? "-" : "");
        if (decpt <= -4 || decpt > 16)
                r = r < 0 ? r
                          : strbuf_printf(&out, "%c%s%se%c%02d", mant[0], n > 1 ? "." : "", mant + 1,
                                          exp < 0 ? '-' : '+', abs(exp));
        else if (decpt <= 0) {
                r = r < 0 ? r : strbuf_puts(&out, "0.");
                for (int i = 0; r >= 0 && i < -decpt; i++)
                        r = strbuf_puts(&out, "0");
                r = r < 0 ? r : strbuf_puts(&out, mant);
        } else if ((size_t) decpt >= n) {
                r = r < 0 ? r : strbuf_puts(&out, mant);
                for (size_t i = n; r >= 0 && i < (size_t) decpt; i++)
                        r = strbuf_puts(&out, "0");
                r = r < 0 ? r : strbuf_puts(&out, ".0");
        } else
                r = r < 0 ? r : strbuf_printf(&out, "%.*s.%s", decpt, mant, mant + decpt);
        return r < 0 ? NULL : strbuf_steal(&out);
}

char *system_py_str(const json_t *v) {
        if (json_is_string(v))
                return strdup(json_string_value(v));
        if (json_is_true(v))
                return strdup("True");
        if (json_is_false(v))
                return strdup("False");
        if (!v || json_is_null(v))
                return strdup("None");
        if (json_is_integer(v))
                return strdup_printf("%lld", (long long) json_integer_value(v));
        if (json_is_real(v))
                return system_py_float(json_real_value(v));
        return NULL;
}

/* --- ConfigParser ------------------------------------------------------- */

/* Python's str.isspace() for ASCII (other Unicode spaces are not treated as
 * such here). */
static bool py_space(unsigned char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || (c >= 0x1c && c <= 0x1f);
}

static char *py_strip(char *s) {
        size_t n;
        while (py_space(*s))
                s++;
        n = strlen(s);
        while (n > 0 && py_space(s[n - 1]))
                s[--n] = 0;
        return s;
}

static void ascii_lower(char *s) {
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char) (*s - 'A' + 'a');
}

/* One line break of str.splitlines() at s (its length), 0 if none. */
static size_t line_break(const char *s, const char *end) {
        unsigned char c = (unsigned char) *s;
        if (c == '\r')
                return s + 1 < end && s[1] == '\n' ? 2 : 1;
        if (c == '\n' || c == '\v' || c == '\f' || c == 0x1c || c == 0x1d || c == 0x1e)
                return 1;
        if (c == 0xc2 && s + 1 < end && (unsigned char) s[1] == 0x85)
                return 2;
        if (c == 0xe2 && s + 2 < end && (unsigned char) s[1] == 0x80 &&
            ((unsigned char) s[2] == 0xa8 || (unsigned char) s[2] == 0xa9))
                return 3;
        return 0;
}

/* -EBADMSG with *e (what was there before freed) saying why. */
_printf_(2, 3) static int set_error(char **e, const char *fmt, ...) {
        va_list ap;

        free(*e);
        va_start(ap, fmt);
        *e = strdup_vprintf(fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

int system_ini_parse(const char *text, size_t len, json_t **ret, char **ret_error) {
        _cleanup_json_ json_t *ini = json_pack("{s:{}, s:{}}", "defaults", "sections");
        json_t *sections, *cursect = NULL;
        _cleanup_free_ char *sectname = NULL;
        const char *p = text, *end = text + len;
        unsigned lineno = 0;
        bool error = false;

        *ret_error = NULL;
        if (!ini)
                return -ENOMEM;
        if (len > SYSTEM_INI_MAX)
                return *ret_error = strdup("the file is too large"), -EFBIG;
        if (memchr(text, 0, len))
                return *ret_error = strdup("the file holds a NUL byte"), -EBADMSG;
        sections = json_object_get(ini, "sections");
        while (p < end) {
                const char *q = p;
                size_t br = 0;
                _cleanup_free_ char *line = NULL;
                char *value, *delim, *rb;

                while (q < end && !(br = line_break(q, end)))
                        q++;
                line = strndup(p, (size_t) (q - p));
                p = q + br;
                lineno++;
                if (!line)
                        return -ENOMEM;
                /* cloud-init lstrip()s each line: no line continues a value. */
                value = py_strip(line);
                if (!*value || *value == '#' || *value == ';')
                        continue;
                rb = strrchr(value, ']');
                if (*value == '[' && rb && rb > value + 1) {
                        free(sectname);
                        sectname = strndup(value + 1, (size_t) (rb - value - 1));
                        if (!sectname)
                                return -ENOMEM;
                        if (streq(sectname, "DEFAULT")) {
                                cursect = json_object_get(ini, "defaults");
                                continue;
                        }
                        if (json_object_get(sections, sectname))
                                return set_error(ret_error, "line %u: section '%s' is there twice", lineno, sectname);
                        cursect = json_object();
                        if (!cursect || json_object_set_new(sections, sectname, cursect) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (!cursect)
                        return set_error(ret_error, "line %u: an option before any [section]", lineno);
                delim = value + strcspn(value, "=:");
                if (!*delim || delim == value) {
                        /* ConfigParser goes on and fails at the end of the file */
                        if (!*ret_error)
                                *ret_error = strdup_printf("line %u: not a section, option or comment", lineno);
                        error = true;
                        continue;
                }
                *delim = 0;
                char *opt = py_strip(value), *val = py_strip(delim + 1);
                ascii_lower(opt);
                if (json_object_get(cursect, opt))
                        return set_error(ret_error, "line %u: option '%s' is there twice in [%s]", lineno, opt,
                                         sectname);
                if (json_object_set_new(cursect, opt, json_string(val)) < 0)
                        return -ENOMEM;
        }
        if (error)
                return -EBADMSG;
        *ret = TAKE_PTR(ini);
        return 0;
}

int system_ini_set(json_t *ini, const char *section, const char *option, const char *value) {
        _cleanup_free_ char *opt = strdup(option), *lower = strdup(section);
        json_t *sect;

        if (!opt || !lower)
                return -ENOMEM;
        ascii_lower(opt);
        ascii_lower(lower);
        if (streq(section, "DEFAULT"))
                sect = json_object_get(ini, "defaults");
        else {
                sect = json_object_get(json_object_get(ini, "sections"), section);
                if (!sect && streq(lower, "default"))
                        return -ENOENT; /* RawConfigParser.set(): NoSectionError */
                if (!sect) {
                        sect = json_object();
                        if (!sect || json_object_set_new(json_object_get(ini, "sections"), section, sect) < 0)
                                return -ENOMEM;
                }
        }
        return json_object_set_new(sect, opt, json_string(value)) < 0 ? -ENOMEM : 0;
}

static int write_section(struct strbuf *out, const char *name, const json_t *items) {
        const char *k;
        json_t *v;

        if (strbuf_printf(out, "[%s]\n", name) < 0)
                return -ENOMEM;
        json_object_foreach((json_t *) items, k, v) {
                const char *s = json_string_value(v);
                if (strbuf_printf(out, "%s = ", k) < 0)
                        return -ENOMEM;
                for (; *s; s++)
                        if ((*s == '\n' ? strbuf_puts(out, "\n\t") : strbuf_append(out, s, 1)) < 0)
                                return -ENOMEM;
                if (strbuf_puts(out, "\n") < 0)
                        return -ENOMEM;
        }
        return strbuf_puts(out, "\n") < 0 ? -ENOMEM : 0;
}

char *system_ini_render(const json_t *ini) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        const json_t *defaults = json_object_get(ini, "defaults");
        const char *name;
        json_t *items;

        if (strbuf_puts(&out, "") < 0)
                return NULL;
        if (json_object_size(defaults) > 0 && write_section(&out, "DEFAULT", defaults) < 0)
                return NULL;
        json_object_foreach(json_object_get(ini, "sections"), name, items)
                if (write_section(&out, name, items) < 0)
                        return NULL;
        return strbuf_steal(&out);
}

/* --- yaml.dump ----------------------------------------------------------- */

/* PyYAML's implicit resolvers (yaml/resolver.py) in POSIX ERE: a string
 * one of them matches must be quoted. Python's $ also matches before a
 * final newline. */
static const char *const resolvers[] = {
        "^(yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
        "^([-+]?([0-9][0-9_]*)\\.[0-9_]*([eE][-+][0-9]+)?|\\.[0-9][0-9_]*([eE][-+][0-9]+)?|"
        "[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\\.[0-9_]*|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN))$",
        "^([-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+)$",
        "^<<$",
        "^(~|null|Null|NULL|)$",
        "^([0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?([Tt]|[ \t]+)"
        "[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](\\.[0-9]*)?([ \t]*(Z|[-+][0-9][0-9]?(:[0-9][0-9])?))?)$",
        "^=$",
        "^(!|&|\\*)$",
};

static int resolves_to_other(const char *s, bool *ret) {
        size_t n = strlen(s);
        _cleanup_free_ char *chomped = n > 0 && s[n - 1] == '\n' ? strndup(s, n - 1) : NULL;

        *ret = false;
        for (size_t i = 0; i < ELEMENTSOF(resolvers) && !*ret; i++) {
                regex_t re;
                if (regcomp(&re, resolvers[i], REG_EXTENDED | REG_NOSUB) != 0)
                        return -EINVAL;
                *ret = regexec(&re, s, 0, NULL, 0) == 0 || (chomped && regexec(&re, chomped, 0, NULL, 0) == 0);
                regfree(&re);
        }
        return 0;
}

static int cmp_keys(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int emit_scalar(yaml_emitter_t *em, const char *tag, const char *value, bool plain_ok) {
        yaml_event_t ev;
        if (!yaml_scalar_event_initialize(&ev, NULL, (yaml_char_t *) tag, (yaml_char_t *) value, (int) strlen(value),
                                          plain_ok, 1, YAML_ANY_SCALAR_STYLE))
                return -ENOMEM;
        return yaml_emitter_emit(em, &ev) ? 0 : -EIO;
}

static int emit_str(yaml_emitter_t *em, const char *s) {
        bool other;
        int r = resolves_to_other(s, &other);
        return r < 0 ? r : emit_scalar(em, YAML_STR_TAG, s, !other);
}

static int emit_node(yaml_emitter_t *em, const json_t *v, unsigned depth) {
        yaml_event_t ev;
        int r = 0;

        if (depth > 64)
                return -ELOOP;
        if (json_is_object(v)) {
                size_t n = json_object_size(v), i = 0;
                _cleanup_free_ const char **keys = calloc(n + 1, sizeof(char *));
                const char *k;
                json_t *x;
                if (!keys)
                        return -ENOMEM;
                json_object_foreach((json_t *) v, k, x)
                        keys[i++] = k;
                qsort(keys, n, sizeof(char *), cmp_keys);
                if (!yaml_mapping_start_event_initialize(&ev, NULL, (yaml_char_t *) YAML_MAP_TAG, 1,
                                                         YAML_BLOCK_MAPPING_STYLE) ||
                    !yaml_emitter_emit(em, &ev))
                        return -EIO;
                for (i = 0; r >= 0 && i < n; i++) {
                        r = emit_str(em, keys[i]);
                        if (r >= 0)
                                r = emit_node(em, json_object_get(v, keys[i]), depth + 1);
                }
                if (r < 0)
                        return r;
                if (!yaml_mapping_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
                        return -EIO;
                return 0;
        }
        if (json_is_array(v)) {
                size_t i;
                json_t *x;
                if (!yaml_sequence_start_event_initialize(&ev, NULL, (yaml_char_t *) YAML_SEQ_TAG, 1,
                                                          YAML_BLOCK_SEQUENCE_STYLE) ||
                    !yaml_emitter_emit(em, &ev))
                        return -EIO;
                json_array_foreach((json_t *) v, i, x)
                        if (r >= 0)
                                r = emit_node(em, x, depth + 1);
                if (r < 0)
                        return r;
                if (!yaml_sequence_end_event_initialize(&ev) || !yaml_emitter_emit(em, &ev))
                        return -EIO;
                return 0;
        }
        if (json_is_string(v))
                return emit_str(em, json_string_value(v));
        if (json_is_boolean(v))
                return emit_scalar(em, YAML_BOOL_TAG, json_is_true(v) ? "true" : "false", true);
        if (json_is_null(v))
                return emit_scalar(em, YAML_NULL_TAG, "null", true);
        if (json_is_integer(v)) {
                char buf[32];
                snprintf(buf, sizeof(buf), "%lld", (long long) json_integer_value(v));
                return emit_scalar(em, YAML_INT_TAG, buf, true);
        }
        if (json_is_real(v)) {
                /* represent_float(): repr() lowered, 1e+20 as 1.0e+20 */
                _cleanup_free_ char *f = system_py_float(json_real_value(v)), *g = NULL;
                char *e;
                if (!f)
                        return -ENOMEM;
                if (!strchr(f, '.') && (e = strchr(f, 'e'))) {
                        g = strdup_printf("%.*s.0%s", (int) (e - f), f, e);
                        if (!g)
                                return -ENOMEM;
                }
                return emit_scalar(em, YAML_FLOAT_TAG, g ? g : f, true);
        }
        return -EINVAL;
}

static int write_handler(void *data, unsigned char *buffer, size_t size) {
        return strbuf_append(data, buffer, size) >= 0;
}

int system_yaml_dump(const json_t *v, bool cloudinit_dumps, char **ret) {
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        yaml_emitter_t em;
        yaml_event_t ev;
        int r = -EIO;

        if (!yaml_emitter_initialize(&em))
                return -ENOMEM;
        yaml_emitter_set_output(&em, write_handler, &out);
        yaml_emitter_set_unicode(&em, 0);
        yaml_emitter_set_width(&em, 80);
        yaml_emitter_set_indent(&em, cloudinit_dumps ? 4 : 2);
        yaml_emitter_set_break(&em, YAML_LN_BREAK);
        if (yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) && yaml_emitter_emit(&em, &ev) &&
            yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, !cloudinit_dumps) &&
            yaml_emitter_emit(&em, &ev)) {
                r = emit_node(&em, v, 0);
                if (r >= 0)
                        r = yaml_document_end_event_initialize(&ev, !cloudinit_dumps) && yaml_emitter_emit(&em, &ev) &&
                                            yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&em, &ev) &&
                                            yaml_emitter_flush(&em)
                                    ? 0
                                    : -EIO;
        }
        yaml_emitter_delete(&em);
        if (r < 0)
                return r;
        if (strbuf_puts(&out, "") < 0)
                return -ENOMEM;
        *ret = strbuf_steal(&out);
        return 0;
}
