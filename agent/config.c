/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fileio.h"
#include "module.h"
#include "path.h"
#include "strbuf.h"
#include "yaml-json.h"

#define CONFIG_MAX_SIZE (4u * 1024 * 1024)

int config_merge(json_t *dst, json_t *src) {
        const char *key;
        json_t *value;

        json_object_foreach(src, key, value) {
                json_t *old = json_object_get(dst, key);
                if (json_is_object(old) && json_is_object(value)) {
                        int r = config_merge(old, value);
                        if (r < 0)
                                return r;
                } else if (json_object_set(dst, key, value) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int load_one(const char *path, const char *display, json_t *into, char **ret_error) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_json_ json_t *doc = NULL;
        size_t len;
        int r;

        r = read_file(path, CONFIG_MAX_SIZE, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                *ret_error = strdup_printf("%s: %s", display, strerror(-r));
                return r;
        }
        r = yaml_parse(buf, len, display, &doc, ret_error);
        if (r < 0)
                return r;
        if (!json_is_object(doc)) {
                *ret_error = strdup_printf("%s: the top level must be a mapping", display);
                return -EINVAL;
        }
        return config_merge(into, doc);
}

static int yaml_name_filter(const struct dirent *d) {
        size_t n = strlen(d->d_name);
        return d->d_name[0] != '.' && n > 5 && streq(d->d_name + n - 5, ".yaml");
}

static int load_dropins(json_t *into, char **ret_error) {
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
                        r = path && display ? load_one(path, display, into, ret_error) : -ENOMEM;
                }
                free(names[i]);
        }
        free(names);
        return r;
}

int config_load_baked(const char *config_file, json_t **ret, char **ret_error) {
        _cleanup_json_ json_t *cfg = json_object();
        _cleanup_free_ char *path = NULL;
        int r;

        if (!cfg)
                return -ENOMEM;
        if (config_file)
                path = strdup(config_file);
        else if (root_path(&path, KILN_CONFIG_FILE) < 0)
                path = NULL;
        if (!path)
                return -ENOMEM;
        r = load_one(path, config_file ? config_file : KILN_CONFIG_FILE, cfg, ret_error);
        if (r < 0)
                return r;
        /* With --config FILE, only that file is read. */
        if (!config_file) {
                r = load_dropins(cfg, ret_error);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(cfg);
        return 0;
}

/* --- schema validation --- */

static const struct config_key *find_key(const char *schema_path) {
        for (const struct kiln_module *const *m = kiln_modules; *m; m++)
                for (const struct config_key *k = (*m)->config_keys; k && k->path; k++)
                        if (streq(k->path, schema_path))
                                return k;
        return NULL;
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
        case CONFIG_ANY: return true;
        }
        return false;
}

static const char *type_name(enum config_type t) {
        static const char *const names[] = {
                [CONFIG_STRING] = "a string",   [CONFIG_INT] = "an integer",
                [CONFIG_BOOL] = "true or false", [CONFIG_NUMBER] = "a number",
                [CONFIG_LIST] = "a list",       [CONFIG_MAP] = "a mapping",
                [CONFIG_DICT] = "a mapping",    [CONFIG_ANY] = "anything",
                [CONFIG_STRING_OR_LIST] = "a string or a list",
        };
        return names[t];
}

struct walk {
        char **warnings;
        char **errors;
        int n_errors;
};

static void add_msg(char ***list, char *msg) {
        if (msg)
                (void) strv_push(list, msg);
        free(msg);
}

static void walk_value(struct walk *w, const json_t *v, const char *schema, const char *shown);

static void walk_object(struct walk *w, const json_t *obj, const char *schema, const char *shown) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) obj, key, v) {
                _cleanup_free_ char *s = schema ? strdup_printf("%s.%s", schema, key) : strdup(key);
                _cleanup_free_ char *d = shown ? strdup_printf("%s.%s", shown, key) : strdup(key);
                if (s && d)
                        walk_value(w, v, s, d);
        }
}

static void walk_array(struct walk *w, const json_t *arr, const char *schema, const char *shown) {
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

static void walk_value(struct walk *w, const json_t *v, const char *schema, const char *shown) {
        const struct config_key *k = find_key(schema);

        if (!k) {
                add_msg(&w->warnings, strdup_printf("unknown key '%s', ignoring", shown));
                return;
        }
        if (!type_ok(k->type, v)) {
                add_msg(&w->errors, strdup_printf("'%s' must be %s", shown, type_name(k->type)));
                w->n_errors++;
                return;
        }
        if (k->type == CONFIG_MAP)
                walk_object(w, v, schema, shown);
        else if (k->type == CONFIG_LIST)
                walk_array(w, v, schema, shown);
}

int config_validate(const json_t *config, char ***ret_warnings, char ***ret_errors) {
        struct walk w = {0};

        walk_object(&w, config, NULL, NULL);
        *ret_warnings = w.warnings;
        *ret_errors = w.errors;
        return w.n_errors;
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
