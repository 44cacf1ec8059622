/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileio.h"
#include "module.h"
#include "path.h"
#include "strbuf.h"
#include "yaml-json.h"

#define CONFIG_MAX_SIZE (4u * 1024 * 1024)

/* A list of mappings that each have a "name" (sites, users): such lists
 * merge item by item, so an image's sites and the user-data's add up. */
static bool is_named_list(const json_t *list) {
        size_t i;
        json_t *item;

        if (!json_is_array(list) || json_array_size(list) == 0)
                return false;
        json_array_foreach(list, i, item)
                if (!json_is_string(json_object_get(item, "name")))
                        return false;
        return true;
}

/* The index of the item called name in list, or -1. */
static ssize_t find_named(const json_t *list, const char *name) {
        size_t i;
        json_t *item;

        json_array_foreach(list, i, item)
                if (streq(json_string_value(json_object_get(item, "name")), name))
                        return (ssize_t) i;
        return -1;
}

/* Items of src replace dst's items of the same name, where they stand;
 * new names are appended in src's order. */
static int merge_named(json_t *dst, const json_t *src) {
        size_t i;
        json_t *item;

        json_array_foreach(src, i, item) {
                ssize_t at = find_named(dst, json_string_value(json_object_get(item, "name")));
                if ((at >= 0 ? json_array_set(dst, (size_t) at, item) : json_array_append(dst, item)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

int config_merge(json_t *dst, json_t *src) {
        const char *key;
        json_t *value;

        json_object_foreach(src, key, value) {
                json_t *old = json_object_get(dst, key);
                int r = 0;

                if (json_is_object(old) && json_is_object(value))
                        r = config_merge(old, value);
                else if (is_named_list(old) && is_named_list(value))
                        r = merge_named(old, value);
                else if (json_object_set(dst, key, value) < 0)
                        r = -ENOMEM;
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_one(const char *path, const char *display, json_t *into, json_t *positions, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_json_ json_t *doc = NULL, *pos = NULL;
        size_t len;
        int r;

        r = read_file(path, CONFIG_MAX_SIZE, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                *ret_error = strdup_printf("%s: %s", display, strerror(-r));
                return r;
        }
        r = yaml_parse_positions(buf, len, display, 0, &doc, &pos, ret_error);
        if (r < 0)
                return r;
        if (!json_is_object(doc)) {
                *ret_error = strdup_printf("%s: the top level must be a mapping", display);
                return -EINVAL;
        }
        r = config_merge_positions(positions, pos);
        return r < 0 ? r : config_merge(into, doc);
}

static int yaml_name_filter(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return d->d_name[0] != '.' && n > 5 && streq(d->d_name + n - 5, ".yaml");
}

static int load_dropins(json_t *into, json_t *positions, char **ret_error) {
        _cleanup_free_ char *dir = NULL;
        struct dirent **names = NULL;
        int n, r = 0;

        if (root_path(&dir, KILN_CONFIG_DIR) < 0)
                return -ENOMEM;
        n = scandir(dir, &names, yaml_name_filter, alphasort);
        if (n < 0)
                return errno == ENOENT ? 0 : negative_errno();
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *display = NULL;
                if (r >= 0) {
                        path = strdup_printf("%s/%s", dir, names[i]->d_name);
                        display = strdup_printf("%s/%s", KILN_CONFIG_DIR, names[i]->d_name);
                        r = path && display ? load_one(path, display, into, positions, ret_error) : -ENOMEM;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

/* Where the values of the config last loaded came from, for messages. */
static json_t *baked_positions, *userdata_positions;

int config_load_baked_positions(const char *config_file, json_t **ret, json_t **ret_positions, char **ret_error) {
        _cleanup_json_ json_t *cfg = json_object(), *positions = json_object();
        _cleanup_free_ char *path = NULL;
        int r;

        if (!cfg || !positions)
                return -ENOMEM;
        if (config_file)
                path = strdup(config_file);
        else if (root_path(&path, KILN_CONFIG_FILE) < 0)
                path = NULL;
        if (!path)
                return -ENOMEM;
        r = load_one(path, config_file ? config_file : KILN_CONFIG_FILE, cfg, positions, ret_error);
        if (r < 0)
                return r;
        /* With --config FILE, only that file is read. */
        if (!config_file) {
                r = load_dropins(cfg, positions, ret_error);
                if (r < 0)
                        return r;
        }
        json_decref(baked_positions);
        baked_positions = json_incref(positions);
        if (ret_positions)
                *ret_positions = TAKE_PTR(positions);
        *ret = TAKE_PTR(cfg);
        return 0;
}

int config_load_baked(const char *config_file, json_t **ret, char **ret_error) {
        return config_load_baked_positions(config_file, ret, NULL, ret_error);
}

void config_set_userdata_positions(json_t *positions) {
        json_decref(userdata_positions);
        userdata_positions = json_incref(positions);
}

/* Whether src replaces a list that path ("runcmd[3]", "a.b[0].c") is in. */
static bool replaced_by(const json_t *src, const char *path) {
        _cleanup_free_ char *p = strdup(path);

        for (char *s = p ? strchr(p, '[') : NULL; s; s = strchr(s + 1, '[')) {
                char c = *s;
                *s = 0;
                if (json_object_get(src, p)) {
                        *s = c;
                        return true;
                }
                *s = c;
        }
        return false;
}

int config_merge_positions(json_t *dst, const json_t *src) {
        const char *key;
        json_t *value;
        void *tmp;

        /* A list that replaces another takes its items' positions with it:
         * the old items' must not linger. */
        json_object_foreach_safe(dst, tmp, key, value) if (replaced_by(src, key)) json_object_del(dst, key);
        return json_object_update(dst, (json_t *) src) < 0 ? -ENOMEM : 0;
}

/* --- schema validation --- */

static const struct config_key *find_key(const char *schema_path) {
        for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                for (const struct config_key *k = (*m)->config_keys; k && k->path; k++)
                        if (streq(k->path, schema_path))
                                return k;
        return NULL;
}

/* An argv: strings, and numbers or booleans that read as words. */
static bool is_scalar_list(const json_t *v) {
        size_t i;
        json_t *item;

        if (!json_is_array(v) || json_array_size(v) == 0)
                return false;
        json_array_foreach((json_t *) v, i, item)
                if (!json_is_string(item) && !json_is_number(item) && !json_is_boolean(item) && !json_is_null(item))
                        return false;
        return true;
}

static bool type_ok(enum config_type t, const json_t *v) {
        switch (t) {
        case CONFIG_STRING: return json_is_string(v);
        case CONFIG_INT: return json_is_integer(v);
        case CONFIG_BOOL: return json_is_boolean(v);
        case CONFIG_NUMBER: return json_is_number(v);
        case CONFIG_LIST: return json_is_array(v);
        case CONFIG_MAP:
        case CONFIG_DICT: return json_is_object(v);
        case CONFIG_STRING_OR_LIST: return json_is_string(v) || json_is_array(v);
        case CONFIG_STRING_OR_MAP: return json_is_string(v) || json_is_object(v);
        /* null: an empty `- ` item, which cloud-init's shellify() leaves out. */
        case CONFIG_COMMAND: return json_is_string(v) || is_scalar_list(v) || json_is_object(v) || json_is_null(v);
        case CONFIG_ANY: return true;
        }
        return false;
}

static const char *type_name(enum config_type t) {
        static const char *const names[] = {
                [CONFIG_STRING] = "a string",
                [CONFIG_INT] = "an integer",
                [CONFIG_BOOL] = "true or false",
                [CONFIG_NUMBER] = "a number",
                [CONFIG_LIST] = "a list",
                [CONFIG_MAP] = "a mapping",
                [CONFIG_DICT] = "a mapping",
                [CONFIG_ANY] = "anything",
                [CONFIG_STRING_OR_LIST] = "a string or a list",
                [CONFIG_STRING_OR_MAP] = "a string or a mapping",
                [CONFIG_COMMAND] = "a command: a string, a non-empty list of words or a mapping",
        };
        return names[t];
}

const char *config_type_doc(enum config_type t) {
        static const char *const names[] = {
                [CONFIG_STRING] = "string",
                [CONFIG_INT] = "int",
                [CONFIG_BOOL] = "bool",
                [CONFIG_NUMBER] = "number",
                [CONFIG_LIST] = "list",
                [CONFIG_MAP] = "map",
                [CONFIG_DICT] = "map (free keys)",
                [CONFIG_ANY] = "any",
                [CONFIG_STRING_OR_LIST] = "string or list",
                [CONFIG_STRING_OR_MAP] = "string or map",
                [CONFIG_COMMAND] = "command (string, list or map)",
        };
        return names[t];
}

struct config_report {
        const json_t *positions[2]; /* searched in order */
        char **warnings;
        char **errors;
        int n_errors;
};

/* "file:line:col" of path, or of its nearest parent that has one. */
static const char *position_of(const struct config_report *rep, const char *path) {
        _cleanup_free_ char *p = strdup(path);
        size_t n;

        while (p && *p) {
                for (size_t i = 0; i < ELEMENTSOF(rep->positions); i++) {
                        const char *s = json_string_value(json_object_get(rep->positions[i], p));
                        if (s)
                                return s;
                }
                n = strlen(p);
                while (n > 0 && p[n - 1] != '.' && p[n - 1] != '[')
                        n--;
                if (n > 0 && p[n - 1] == '[')
                        n--;
                else if (n > 0)
                        n--;
                p[n] = 0;
        }
        return NULL;
}

static void report(struct config_report *rep, bool error, const char *path, const char *fmt, va_list ap) _printf_(4, 0);
static void report(struct config_report *rep, bool error, const char *path, const char *fmt, va_list ap) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        const char *where = path ? position_of(rep, path) : NULL;
        _cleanup_free_ char *msg = strdup_vprintf(fmt, ap);

        if (!msg)
                return;
        if ((where && strbuf_printf(&b, "%s: ", where) < 0) || strbuf_puts(&b, msg) < 0)
                return;
        (void) strv_push(error ? &rep->errors : &rep->warnings, b.data);
        if (error)
                rep->n_errors++;
}

void config_report_error(struct config_report *rep, const char *path, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        report(rep, true, path, fmt, ap);
        va_end(ap);
}

void config_report_warning(struct config_report *rep, const char *path, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        report(rep, false, path, fmt, ap);
        va_end(ap);
}

size_t config_edit_distance(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b), prev[65], cur[65];

        if (la > 64 || lb > 64)
                return SIZE_MAX;
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
                        size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
                        cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
                }
                memcpy(prev, cur, sizeof(prev));
        }
        return prev[lb];
}

/* The known key under the same parent nearest to the unknown schema path
 * "sites[].upstrem", if it is near enough to be a likely typo. */
static const char *nearest_key(const char *schema) {
        const char *dot = strrchr(schema, '.'), *name = dot ? dot + 1 : schema, *best = NULL;
        size_t parent = dot ? (size_t) (dot - schema) + 1 : 0, best_d = SIZE_MAX;

        for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                for (const struct config_key *k = (*m)->config_keys; k && k->path; k++) {
                        const char *cand = k->path + parent;
                        size_t d;
                        if (strlen(k->path) <= parent || !strneq(k->path, schema, parent) || strpbrk(cand, ".[]"))
                                continue;
                        d = config_edit_distance(name, cand);
                        if (d < best_d) {
                                best_d = d;
                                best = cand;
                        }
                }
        return best && (best_d <= 2 || best_d * 3 <= strlen(name)) ? best : NULL;
}

static void walk_value(struct config_report *w, const json_t *v, const char *schema, const char *shown);

static void walk_object(struct config_report *w, const json_t *obj, const char *schema, const char *shown) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) obj, key, v) {
                _cleanup_free_ char *s = schema ? strdup_printf("%s.%s", schema, key) : strdup(key);
                _cleanup_free_ char *d = shown ? strdup_printf("%s.%s", shown, key) : strdup(key);
                if (s && d)
                        walk_value(w, v, s, d);
        }
}

static void walk_array(struct config_report *w, const json_t *arr, const char *schema, const char *shown) {
        _cleanup_free_ char *s = strdup_printf("%s[]", schema);
        size_t i;
        json_t *v;

        if (!s || !find_key(s))
                return; /* a list of plain values, not described further */
        json_array_foreach((json_t *) arr, i, v) {
                _cleanup_free_ char *d = strdup_printf("%s[%zu]", shown, i);
                if (d)
                        walk_value(w, v, s, d);
        }
}

static void walk_value(struct config_report *w, const json_t *v, const char *schema, const char *shown) {
        const struct config_key *k = find_key(schema);

        if (!k) {
                const char *near = nearest_key(schema);
                if (near)
                        config_report_warning(w, shown, "unknown key '%s' (did you mean '%s'?), ignoring", shown, near);
                else
                        config_report_warning(w, shown, "unknown key '%s', ignoring", shown);
                return;
        }
        if (!type_ok(k->type, v)) {
                config_report_error(w, shown, "'%s' must be %s", shown, type_name(k->type));
                return;
        }
        if (json_is_object(v) && k->type != CONFIG_DICT && k->type != CONFIG_ANY)
                walk_object(w, v, schema, shown);
        else if (k->type == CONFIG_LIST)
                walk_array(w, v, schema, shown);
}

static int run_validation(struct config_report *w, const json_t *config, char ***ret_warnings, char ***ret_errors) {
        walk_object(w, config, NULL, NULL);
        for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                if ((*m)->validate)
                        (*m)->validate(config, w);
        *ret_warnings = w->warnings;
        *ret_errors = w->errors;
        return w->n_errors;
}

int config_validate_at(const json_t *config, const json_t *positions, char ***ret_warnings, char ***ret_errors) {
        struct config_report w = {.positions = {positions, NULL}};
        return run_validation(&w, config, ret_warnings, ret_errors);
}

int config_validate(const json_t *config, char ***ret_warnings, char ***ret_errors) {
        struct config_report w = {.positions = {userdata_positions, baked_positions}};
        return run_validation(&w, config, ret_warnings, ret_errors);
}

static void print_cell(FILE *f, const char *s) {
        for (; *s; s++)
                fputs(*s == '|' ? "\\|" : (char[]){*s, 0}, f);
}

void config_print_keys(FILE *f) {
        fputs("| key | type | meaning |\n| --- | --- | --- |\n", f);
        for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                for (const struct config_key *k = (*m)->config_keys; k && k->path; k++) {
                        fprintf(f, "| `%s` | %s | ", k->path, config_type_doc(k->type));
                        print_cell(f, k->doc ? k->doc : "");
                        fputs(" |\n", f);
                }
}

int json_read_file(const char *path, size_t max, json_t **ret) {
        _cleanup_free_ char *buf = NULL;
        json_t *j;
        int r;

        r = read_file(path, max, &buf, NULL);
        if (r < 0)
                return r;
        j = json_loads(buf, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

/* --- lookups --- */

json_t *config_get(const json_t *config, const char *path) {
        char key[256];
        const json_t *node = config;

        while (node && *path) {
                size_t n = strcspn(path, ".");
                if (n >= sizeof(key))
                        return NULL;
                memcpy(key, path, n);
                key[n] = 0;
                node = json_object_get(node, key);
                path += n;
                if (*path == '.')
                        path++;
        }
        return (json_t *) node;
}

const char *config_string(const json_t *config, const char *path, const char *def) {
        json_t *v = config_get(config, path);
        return json_is_string(v) ? json_string_value(v) : def;
}

long config_int(const json_t *config, const char *path, long def) {
        json_t *v = config_get(config, path);
        return json_is_integer(v) ? (long) json_integer_value(v) : def;
}

bool config_bool(const json_t *config, const char *path, bool def) {
        json_t *v = config_get(config, path);
        return json_is_boolean(v) ? json_is_true(v) : def;
}

double config_number(const json_t *config, const char *path, double def) {
        json_t *v = config_get(config, path);
        return json_is_number(v) ? json_number_value(v) : def;
}
