/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "strbuf.h"
#include "userdata/userdata.h"
#include "yaml-json.h"

/* Several #cloud-config parts merged into one document as cloud-init 22.4+
 * does (handlers/cloud_config.py and mergers/): each part is merged into
 * what came before with the mergers its own merge_how (or merge_type)
 * names, then those of its Merge-Type (or X-Merge-Type) MIME header; with
 * neither, "dict(replace)+list()+str()": a later part's top-level key
 * replaces an earlier one's. A merger is looked up by the type of the
 * value merged INTO (the first of its kind in the list wins); a type with
 * no merger (numbers, booleans, null, bytes, or a kind not listed) keeps
 * the old value. Where Python would raise (a str appended to a list as
 * characters is fine, an int is not), the part is not merged. */

enum kind { K_DICT, K_LIST, K_STR, K_OTHER };

struct merger {
        enum kind kind;
        bool replace, no_replace, append, prepend; /* the method (first found, in cloud-init's order) */
        bool recurse_str, recurse_array, recurse_dict, allow_delete;
};

#define MAX_MERGERS 32

struct mergers {
        struct merger m[MAX_MERGERS];
        size_t n;
};

struct ctx {
        const struct mergers *ms;
        const json_t *old_pos, *new_pos;
        json_t *out_pos;
        char *error;
};

static enum kind kind_of(const json_t *v) {
        if (json_is_object(v))
                return json_object_size(v) == 1 && json_object_get(v, YAML_BINARY_KEY) ? K_OTHER : K_DICT;
        if (json_is_array(v))
                return K_LIST;
        return json_is_string(v) ? K_STR : K_OTHER;
}

/* Options as a Python `in` test: a list (members), a string (substring),
 * a mapping (keys). */
static bool has_opt(const json_t *opts, const char *name) {
        size_t i;
        json_t *o;

        if (json_is_string(opts))
                return strstr(json_string_value(opts), name) != NULL;
        if (json_is_object(opts))
                return json_object_get(opts, name) != NULL;
        json_array_foreach((json_t *) opts, i, o)
                if (json_is_string(o) && streq(json_string_value(o), name))
                        return true;
        return false;
}

static int add_merger(struct mergers *ms, const char *name, const json_t *opts, char **err) {
        struct merger m = {};
        const char *n = strneq(name, "m_", 2) ? name + 2 : name;

        if (streq(n, "dict"))
                m.kind = K_DICT;
        else if (streq(n, "list"))
                m.kind = K_LIST;
        else if (streq(n, "str"))
                m.kind = K_STR;
        else {
                *err = strdup_printf("no merger named '%s' (cloud-init has dict, list and str)", name);
                return -EINVAL;
        }
        if (!json_is_array(opts) && !json_is_string(opts) && !json_is_object(opts)) {
                *err = strdup_printf("the settings of merger '%s' are not a list", name);
                return -EINVAL;
        }
        if (ms->n >= MAX_MERGERS) {
                *err = strdup("more than 32 mergers");
                return -EINVAL;
        }
        if (m.kind == K_DICT) {
                m.replace = has_opt(opts, "replace");
                m.no_replace = !m.replace;
                m.recurse_dict = true; /* always, in cloud-init */
                m.allow_delete = has_opt(opts, "allow_delete");
        } else if (m.kind == K_LIST) {
                m.append = has_opt(opts, "append");
                m.prepend = !m.append && has_opt(opts, "prepend");
                m.no_replace = !m.append && !m.prepend && !has_opt(opts, "replace") && has_opt(opts, "no_replace");
                m.replace = !m.append && !m.prepend && !m.no_replace;
                m.recurse_dict = has_opt(opts, "recurse_dict");
        } else
                m.append = has_opt(opts, "append");
        m.recurse_str = m.kind != K_STR && has_opt(opts, "recurse_str");
        m.recurse_array = m.kind != K_STR && (has_opt(opts, "recurse_array") || has_opt(opts, "recurse_list"));
        ms->m[ms->n++] = m;
        return 0;
}

/* "list(append)+dict(no_replace,recurse_list)+str()", as
 * string_extract_mergers() reads it: names and options lowercased,
 * '-' read as '_', blanks dropped, empty names skipped. */
static int parse_string(struct mergers *ms, const char *s, char **err) {
        _cleanup_free_ char *copy = strdup(s);
        char *save = copy;

        if (!copy)
                return -ENOMEM;
        while (save) {
                char *item = save, *plus = strchr(item, '+'), *t, *open, *close;
                _cleanup_json_ json_t *opts = json_array();
                int r;

                if (plus)
                        *plus = 0;
                save = plus ? plus + 1 : NULL;
                if (!opts)
                        return -ENOMEM;
                t = strstrip(item);
                for (char *p = t; *p; p++)
                        *p = *p == '-' ? '_' : (*p >= 'A' && *p <= 'Z') ? (char) (*p - 'A' + 'a') : *p;
                if (!*t)
                        continue;
                /* ^[a-z_][a-z0-9_]*\((.*?)\)$ */
                open = strchr(t, '(');
                close = t[strlen(t) - 1] == ')' ? &t[strlen(t) - 1] : NULL;
                bool ok = open && close && open > t && close > open && !(*t >= '0' && *t <= '9');
                for (char *p = t; ok && p < open; p++)
                        ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
                if (!ok) {
                        *err = strdup_printf("merger '%s' is not in the right format (name(option,...))", t);
                        return -EINVAL;
                }
                *open = 0;
                *close = 0;
                for (char *o = open + 1; o;) {
                        char *comma = strchr(o, ','), *w;
                        if (comma)
                                *comma = 0;
                        w = strstrip(o);
                        if (*w && json_array_append_new(opts, json_string(w)) < 0)
                                return -ENOMEM;
                        o = comma ? comma + 1 : NULL;
                }
                r = add_merger(ms, t, opts, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* merge_how as a list: {name: list, settings: [append]} or [list, append]. */
static int parse_list(struct mergers *ms, const json_t *how, char **err) {
        size_t i;
        json_t *m;

        if (json_is_object(how) && json_object_size(how) == 0)
                return 0;
        if (!json_is_array(how)) {
                *err = strdup("merge_how is neither a string nor a list");
                return -EINVAL;
        }
        json_array_foreach((json_t *) how, i, m) {
                _cleanup_json_ json_t *opts = NULL;
                _cleanup_free_ char *name = NULL;
                int r;
                if (json_is_object(m)) {
                        const char *n = json_string_value(json_object_get(m, "name"));
                        if (!n || !json_object_get(m, "settings")) {
                                *err = strdup_printf("merge_how[%zu] needs a string 'name' and 'settings'", i);
                                return -EINVAL;
                        }
                        name = strdup(n);
                        if (!name)
                                return -ENOMEM;
                        for (char *p = name; *p; p++)
                                if (*p == '-')
                                        *p = '_';
                        memmove(name, strstrip(name), strlen(strstrip(name)) + 1);
                        opts = json_incref(json_object_get(m, "settings"));
                } else if (json_is_array(m) && json_array_size(m) > 0 && json_is_string(json_array_get(m, 0))) {
                        name = strdup(json_string_value(json_array_get(m, 0)));
                        opts = json_array();
                        for (size_t k = 1; opts && k < json_array_size(m); k++)
                                if (json_array_append(opts, json_array_get(m, k)) < 0)
                                        return -ENOMEM;
                        if (!name || !opts)
                                return -ENOMEM;
                } else {
                        *err = strdup_printf("merge_how[%zu] is neither {name, settings} nor [name, options...]", i);
                        return -EINVAL;
                }
                if (!*name)
                        continue;
                r = add_merger(ms, name, opts, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static char *join_key(const char *path, const char *key) {
        return *path ? strdup_printf("%s.%s", path, key) : strdup(key);
}

static char *join_index(const char *path, size_t i) {
        return strdup_printf("%s[%zu]", path, i);
}

static bool path_at(const char *path, const char *prefix) {
        size_t n = strlen(prefix);
        if (n == 0)
                return true;
        return strneq(path, prefix, n) && (path[n] == 0 || path[n] == '.' || path[n] == '[');
}

/* The positions of `from` and under it, in src, moved to `to`. */
static int move_positions(struct ctx *c, const json_t *src, const char *from, const char *to, bool exact) {
        const char *key;
        json_t *v;

        if (!src)
                return 0;
        json_object_foreach((json_t *) src, key, v) {
                _cleanup_free_ char *renamed = NULL;
                if (exact ? !streq(key, from) : !path_at(key, from))
                        continue;
                renamed = strdup_printf("%s%s", to, key + strlen(from));
                if (!renamed || json_object_set(c->out_pos, renamed, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static const struct merger *find(const struct mergers *ms, enum kind k) {
        for (size_t i = 0; i < ms->n; i++)
                if (ms->m[i].kind == k)
                        return &ms->m[i];
        return NULL;
}

static int merge(struct ctx *c, json_t *old, json_t *new, const char *op, const char *np, const char *rp, json_t **ret);

/* The old value (or the new one) kept at rp, with its positions. */
static int keep(struct ctx *c, json_t *v, bool is_new, const char *from, const char *rp, json_t **ret) {
        int r = move_positions(c, is_new ? c->new_pos : c->old_pos, from, rp, false);
        if (r < 0)
                return r;
        *ret = json_incref(v);
        return 0;
}

static size_t py_len(const json_t *v) {
        size_t n = 0;
        const unsigned char *s;

        if (json_is_array(v))
                return json_array_size(v);
        if (json_is_object(v))
                return json_object_size(v);
        for (s = (const unsigned char *) json_string_value(v); *s; s++)
                n += (*s & 0xc0) != 0x80; /* code points, as Python counts a str */
        return n;
}

/* What list.extend(new) adds: a list's items, a str's characters, a
 * dict's keys; anything else raises. */
static int extend_items(struct ctx *c, const json_t *new, json_t **ret) {
        _cleanup_json_ json_t *items = NULL;

        if (json_is_array(new))
                items = json_copy((json_t *) new);
        else if (kind_of(new) == K_STR || kind_of(new) == K_DICT) {
                items = json_array();
                if (items && kind_of(new) == K_DICT) {
                        const char *k;
                        json_t *v;
                        json_object_foreach((json_t *) new, k, v)
                                if (json_array_append_new(items, json_string(k)) < 0)
                                        return -ENOMEM;
                } else if (items) {
                        const char *s = json_string_value(new);
                        for (size_t i = 0; s[i];) {
                                size_t n = 1;
                                while ((s[i + n] & 0xc0) == 0x80)
                                        n++;
                                if (json_array_append_new(items, json_stringn(s + i, n)) < 0)
                                        return -ENOMEM;
                                i += n;
                        }
                }
        } else {
                c->error = strdup("a list merged with a value that is not a list, string or mapping "
                                  "(cloud-init fails on it)");
                return -EINVAL;
        }
        if (!items)
                return -ENOMEM;
        *ret = TAKE_PTR(items);
        return 0;
}

static int on_list(struct ctx *c, const struct merger *m, json_t *old, json_t *new, const char *op, const char *np,
                   const char *rp, json_t **ret) {
        _cleanup_json_ json_t *out = json_array(), *items = NULL;
        size_t i, common;
        json_t *v;
        int r;

        if (!out)
                return -ENOMEM;
        if (m->replace && !json_is_array(new))
                return keep(c, new, true, np, rp, ret);
        if (m->append || m->prepend) {
                size_t n_first = m->prepend ? 0 : json_array_size(old);
                r = extend_items(c, new, &items);
                if (r < 0)
                        return r;
                for (size_t pass = 0; pass < 2; pass++) {
                        bool is_new = (pass == 0) == m->prepend;
                        json_t *list = is_new ? items : old;
                        size_t base = pass == 0 ? 0 : (m->prepend ? json_array_size(items) : n_first);
                        json_array_foreach(list, i, v) {
                                _cleanup_free_ char *from = join_index(is_new ? np : op, i),
                                                    *to = join_index(rp, base + i);
                                if (!from || !to || json_array_append(out, v) < 0)
                                        return -ENOMEM;
                                /* a str's characters have no positions of their own */
                                if (json_is_array(new) || !is_new)
                                        if ((r = move_positions(c, is_new ? c->new_pos : c->old_pos, from, to, false)) <
                                            0)
                                                return r;
                        }
                }
        } else {
                if (!json_is_array(new) && kind_of(new) != K_STR && kind_of(new) != K_DICT) {
                        c->error = strdup("a list merged (no_replace) with a value that has no length "
                                          "(cloud-init fails on it)");
                        return -EINVAL;
                }
                common = py_len(new) < json_array_size(old) ? py_len(new) : json_array_size(old);
                json_array_foreach(old, i, v) {
                        _cleanup_free_ char *o = join_index(op, i), *n = join_index(np, i), *t = join_index(rp, i);
                        json_t *item = NULL, *nv = i < common && m->replace ? json_array_get(new, i) : NULL;
                        enum kind nk = nv ? kind_of(nv) : K_OTHER;
                        if (!o || !n || !t)
                                return -ENOMEM;
                        if (!nv)
                                r = keep(c, v, false, o, t, &item);
                        else if ((nk == K_LIST && m->recurse_array) || (nk == K_STR && m->recurse_str) ||
                                 (nk == K_DICT && m->recurse_dict))
                                r = merge(c, v, nv, o, n, t, &item);
                        else
                                r = keep(c, nv, true, n, t, &item);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(out, item) < 0)
                                return -ENOMEM;
                }
        }
        if ((r = move_positions(c, c->old_pos, op, rp, true)) < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int on_dict(struct ctx *c, const struct merger *m, json_t *old, json_t *new, const char *op, const char *np,
                   const char *rp, json_t **ret) {
        _cleanup_json_ json_t *out = json_object();
        const char *key;
        json_t *v;
        int r;

        if (!out)
                return -ENOMEM;
        if (kind_of(new) != K_DICT)
                return keep(c, old, false, op, rp, ret);
        /* dict(old), then each new key in its turn */
        json_object_foreach(old, key, v) {
                json_t *nv = json_object_get(new, key), *item = NULL;
                _cleanup_free_ char *o = join_key(op, key), *n = join_key(np, key), *t = join_key(rp, key);
                enum kind nk = nv ? kind_of(nv) : K_OTHER;
                if (!o || !n || !t)
                        return -ENOMEM;
                if (nv && json_is_null(nv) && m->allow_delete)
                        continue;
                if (!nv)
                        r = keep(c, v, false, o, t, &item);
                else if (m->replace)
                        r = keep(c, nv, true, n, t, &item);
                else if ((nk == K_LIST && m->recurse_array) || (nk == K_STR && m->recurse_str) ||
                         (nk == K_DICT && m->recurse_dict))
                        r = merge(c, v, nv, o, n, t, &item);
                else
                        r = keep(c, v, false, o, t, &item);
                if (r < 0)
                        return r;
                if (json_object_set_new(out, key, item) < 0)
                        return -ENOMEM;
        }
        json_object_foreach(new, key, v) {
                _cleanup_free_ char *n = NULL, *t = NULL;
                json_t *item = NULL;
                if (json_object_get(old, key))
                        continue;
                n = join_key(np, key);
                t = join_key(rp, key);
                if (!n || !t)
                        return -ENOMEM;
                if ((r = keep(c, v, true, n, t, &item)) < 0)
                        return r;
                if (json_object_set_new(out, key, item) < 0)
                        return -ENOMEM;
        }
        if ((r = move_positions(c, c->old_pos, op, rp, true)) < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static int merge(struct ctx *c, json_t *old, json_t *new, const char *op, const char *np, const char *rp,
                 json_t **ret) {
        enum kind k = kind_of(old);
        const struct merger *m = k == K_OTHER ? NULL : find(c->ms, k);
        _cleanup_free_ char *joined = NULL;

        if (!m)
                return keep(c, old, false, op, rp, ret);
        if (k == K_DICT)
                return on_dict(c, m, old, new, op, np, rp, ret);
        if (k == K_LIST)
                return on_list(c, m, old, new, op, np, rp, ret);
        if (!m->append)
                return keep(c, new, true, np, rp, ret);
        if (kind_of(new) != K_STR) {
                c->error = strdup("a string appended with a value that is not a string (cloud-init fails on it)");
                return -EINVAL;
        }
        joined = strdup_printf("%s%s", json_string_value(old), json_string_value(new));
        if (!joined || !(*ret = json_string(joined)))
                return -ENOMEM;
        return move_positions(c, c->old_pos, op, rp, false);
}

int cloudconfig_merge_part(json_t **acc, json_t **acc_pos, json_t *doc, const json_t *pos, const char *header,
                           char **ret_error) {
        _cleanup_json_ json_t *out = NULL, *out_pos = json_object(), *body = json_copy(doc);
        struct mergers ms = {};
        struct ctx c = {.ms = &ms, .old_pos = *acc_pos, .new_pos = pos, .out_pos = out_pos};
        json_t *how;
        int r = 0;

        *ret_error = NULL;
        if (!out_pos || !body)
                return -ENOMEM;
        /* merge_how, else merge_type, taken out of the part; both are read
         * as cloud-init reads them, then the header's. */
        how = json_object_get(body, "merge_how");
        if (!how || json_is_null(how))
                how = json_object_get(body, "merge_type");
        if (how && !json_is_null(how))
                r = json_is_string(how) ? parse_string(&ms, json_string_value(how), &c.error)
                                        : parse_list(&ms, how, &c.error);
        if (r >= 0 && header && *header)
                r = parse_string(&ms, header, &c.error);
        if (r >= 0 && ms.n == 0)
                r = parse_string(&ms, "dict(replace)+list()+str()", &c.error);
        (void) json_object_del(body, "merge_how");
        (void) json_object_del(body, "merge_type");
        if (r >= 0)
                r = merge(&c, *acc, body, "", "", "", &out);
        if (r == -EINVAL) {
                *ret_error = c.error ? c.error : strdup("cannot be merged");
                return *ret_error ? -EINVAL : -ENOMEM;
        }
        free(c.error);
        if (r < 0)
                return r;
        json_decref(*acc);
        *acc = TAKE_PTR(out);
        json_decref(*acc_pos);
        *acc_pos = TAKE_PTR(out_pos);
        return 0;
}
