/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "aws/aws.h"
#include "strbuf.h"

/* AWS's XML answers are small documents; expat reads them, this keeps a
 * tree of elements and their own text, which is all the answers hold.
 * Entity declarations are refused outright (no billion laughs), and the
 * input, depth and element count are bounded. */

#define XML_MAX_INPUT (8 * 1024 * 1024)
#define XML_MAX_DEPTH 64
#define XML_MAX_ELEMENTS 100000
#define XML_MAX_TEXT (4 * 1024 * 1024)

struct xml_reader {
        XML_Parser parser;
        struct xml_node *root, *cur;
        unsigned depth, elements;
        size_t text_total;
        int error;
};

static void stop(struct xml_reader *x, int error) {
        if (!x->error)
                x->error = error;
        XML_StopParser(x->parser, XML_FALSE);
}

static void on_start(void *data, const char *name, const char **attrs) {
        struct xml_reader *x = data;
        struct xml_node *n, **tail;
        const char *local = strrchr(name, ' '); /* "namespace-uri local" with the separator ' ' */

        (void) attrs;
        if (x->error)
                return;
        if (++x->depth > XML_MAX_DEPTH || ++x->elements > XML_MAX_ELEMENTS || (!x->cur && x->root))
                return stop(x, -EBADMSG);
        n = calloc(1, sizeof(*n));
        if (!n)
                return stop(x, -ENOMEM);
        n->name = strdup(local ? local + 1 : name);
        n->text = strdup("");
        if (!n->name || !n->text) {
                xml_free(n);
                return stop(x, -ENOMEM);
        }
        n->parent = x->cur;
        if (!x->cur)
                x->root = n;
        else {
                for (tail = &x->cur->first_child; *tail; tail = &(*tail)->next)
                        ;
                *tail = n;
        }
        x->cur = n;
}

static void on_end(void *data, const char *name) {
        struct xml_reader *x = data;

        (void) name;
        if (x->error || !x->cur)
                return;
        x->depth--;
        x->cur = x->cur->parent;
}

static void on_text(void *data, const char *s, int len) {
        struct xml_reader *x = data;
        size_t old;
        char *t;

        if (x->error || !x->cur || len <= 0)
                return;
        x->text_total += (size_t) len;
        if (x->text_total > XML_MAX_TEXT)
                return stop(x, -EBADMSG);
        old = strlen(x->cur->text);
        t = realloc(x->cur->text, old + (size_t) len + 1);
        if (!t)
                return stop(x, -ENOMEM);
        memcpy(t + old, s, (size_t) len);
        t[old + (size_t) len] = 0;
        x->cur->text = t;
}

static void on_entity_decl(void *data, const XML_Char *name, int is_param, const XML_Char *value, int value_len,
                           const XML_Char *base, const XML_Char *system_id, const XML_Char *public_id,
                           const XML_Char *notation) {
        (void) name, (void) is_param, (void) value, (void) value_len, (void) base, (void) system_id, (void) public_id,
                (void) notation;
        stop(data, -EBADMSG);
}

int xml_parse(const char *data, size_t len, struct xml_node **ret) {
        struct xml_reader x = {0};
        enum XML_Status st;

        if (len > XML_MAX_INPUT)
                return -EBADMSG;
        x.parser = XML_ParserCreateNS(NULL, ' ');
        if (!x.parser)
                return -ENOMEM;
        XML_SetUserData(x.parser, &x);
        XML_SetElementHandler(x.parser, on_start, on_end);
        XML_SetCharacterDataHandler(x.parser, on_text);
        XML_SetEntityDeclHandler(x.parser, on_entity_decl);
        st = XML_Parse(x.parser, data, (int) len, XML_TRUE);
        XML_ParserFree(x.parser);
        if (st != XML_STATUS_OK && !x.error)
                x.error = -EBADMSG;
        if (!x.error && !x.root)
                x.error = -EBADMSG;
        if (x.error) {
                xml_free(x.root);
                return x.error;
        }
        *ret = x.root;
        return 0;
}

void xml_free(struct xml_node *n) {
        while (n) {
                struct xml_node *next = n->next;

                xml_free(n->first_child);
                free(n->name);
                free(n->text);
                free(n);
                n = next;
        }
}

const struct xml_node *xml_child(const struct xml_node *n, const char *name) {
        if (!n)
                return NULL;
        for (const struct xml_node *c = n->first_child; c; c = c->next)
                if (streq(c->name, name))
                        return c;
        return NULL;
}

const struct xml_node *xml_next(const struct xml_node *n) {
        if (!n)
                return NULL;
        for (const struct xml_node *c = n->next; c; c = c->next)
                if (streq(c->name, n->name))
                        return c;
        return NULL;
}

const struct xml_node *xml_path(const struct xml_node *n, const char *path) {
        char part[128];

        while (n && path && *path) {
                const char *slash = strchr(path, '/');
                size_t len = slash ? (size_t) (slash - path) : strlen(path);

                if (len == 0 || len >= sizeof(part))
                        return NULL;
                memcpy(part, path, len);
                part[len] = 0;
                n = xml_child(n, part);
                path = slash ? slash + 1 : NULL;
        }
        return n;
}

const char *xml_text(const struct xml_node *n, const char *path) {
        n = xml_path(n, path);
        return n ? n->text : NULL;
}

char *xml_escape(const char *s) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        int r = 0;

        for (; *s && r >= 0; s++)
                switch (*s) {
                case '&': r = strbuf_puts(&b, "&amp;"); break;
                case '<': r = strbuf_puts(&b, "&lt;"); break;
                case '>': r = strbuf_puts(&b, "&gt;"); break;
                case '"': r = strbuf_puts(&b, "&quot;"); break;
                case '\'': r = strbuf_puts(&b, "&apos;"); break;
                default: r = strbuf_append(&b, s, 1);
                }
        if (r < 0)
                return NULL;
        return strbuf_steal(&b);
}
