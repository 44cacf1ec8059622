/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "strbuf.h"
#include "userdata/jinja.h"

/* A hand-written jinja subset: the template is parsed into a tree (text,
 * output, if, for), then the tree is evaluated against the variables.
 * Bounds: the input size, nesting (MAX_DEPTH for blocks and expressions),
 * the number of nodes, the loop iterations and the output size. */

#define MAX_DEPTH 32
#define MAX_NODES 200000
#define MAX_STEPS 2000000
#define MAX_MISSING 64
#define MAX_SCOPE 64

enum tok_type {
        T_END, /* end of the tag */
        T_NAME,
        T_STRING,
        T_INT,
        T_FLOAT,
        T_OP,
};

struct tok {
        enum tok_type type;
        const char *s; /* into the source; T_STRING: the quoted text */
        size_t len;
        size_t line, col;
};

enum expr_type {
        E_LITERAL,
        E_NAME,
        E_ATTR, /* a.name, a[expr] */
        E_CALL, /* a.items() a.keys() a.values() */
        E_NOT,
        E_AND,
        E_OR,
        E_CMP,
        E_CONCAT, /* ~ */
        E_ADD,
        E_SUB,
        E_NEG,
        E_FILTER,
        E_TEST,
        E_LIST,
        E_COND, /* a if c else b */
};

struct expr {
        enum expr_type type;
        size_t line, col;
        json_t *literal; /* E_LITERAL */
        char *name; /* E_NAME, E_ATTR (by name), E_CALL, E_FILTER, E_TEST; E_CMP: the operator */
        struct expr *a, *b, *c; /* operands; E_ATTR: a[b] when b */
        struct expr **args; /* E_FILTER arguments, E_LIST items */
        size_t n_args;
        bool negate; /* E_TEST: is not */
        bool paren; /* in parentheses: (a == b) == c is not a chain */
};

enum node_type {
        N_TEXT,
        N_OUTPUT,
        N_IF,
        N_FOR,
};

struct nodes {
        struct node *v;
        size_t n;
};

struct branch {
        struct expr *cond; /* NULL: else */
        struct nodes body;
};

struct node {
        enum node_type type;
        size_t line, col;
        const char *text; /* N_TEXT, into the source */
        size_t text_len;
        struct expr *expr; /* N_OUTPUT, N_FOR: the iterable */
        struct branch *branches; /* N_IF */
        size_t n_branches;
        char *var1, *var2; /* N_FOR: for var1[, var2] in */
        struct nodes body, else_body; /* N_FOR */
};

struct parser {
        const char *src; /* newlines normalised, one trailing newline dropped */
        size_t len, pos;
        size_t line, col; /* of pos */
        bool lstrip_next; /* the tag before ended with '-': strip the text's leading blanks */
        size_t n_nodes;
        char *error;
        /* the tag being parsed */
        bool in_output; /* {{ }} rather than {% %} */
        struct tok peeked;
        bool has_peeked;
};

static void parser_fail(struct parser *p, size_t line, size_t col, const char *fmt, ...) _printf_(4, 5);
static void parser_fail(struct parser *p, size_t line, size_t col, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (p->error)
                return;
        va_start(ap, fmt);
        msg = strdup_vprintf(fmt, ap);
        va_end(ap);
        p->error = strdup_printf("%zu:%zu: %s", line, col, msg ? msg : "out of memory");
}

static void advance(struct parser *p, size_t n) {
        for (size_t i = 0; i < n && p->pos < p->len; i++, p->pos++) {
                if (p->src[p->pos] == '\n') {
                        p->line++;
                        p->col = 1;
                } else
                        p->col++;
        }
}

static bool at(const struct parser *p, const char *s) {
        size_t n = strlen(s);
        return p->len - p->pos >= n && memcmp(p->src + p->pos, s, n) == 0;
}

/* ---------------------------------------------------------------- tokens */

static bool is_name_start(char c) {
        return isalpha((unsigned char) c) || c == '_';
}

static bool is_name_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

/* The tag's end: "}}" / "-}}" in output, "%}" / "-%}" / "+%}" in a block. */
static bool at_tag_end(const struct parser *p) {
        if (p->in_output)
                return at(p, "}}") || at(p, "-}}");
        return at(p, "%}") || at(p, "-%}") || at(p, "+%}");
}

static int next_tok(struct parser *p, struct tok *t) {
        static const char *const ops[] = {"==", "!=", "<=", ">=", "//", "**", "<", ">", "(", ")", "[", "]", ".",
                                          ",",  "|",  "~",  ":",  "+",  "-",  "*", "/", "%", "=", "{", "}"};

        if (p->has_peeked) {
                *t = p->peeked;
                p->has_peeked = false;
                return 0;
        }
        while (p->pos < p->len && isspace((unsigned char) p->src[p->pos]))
                advance(p, 1);
        *t = (struct tok){.s = p->src + p->pos, .line = p->line, .col = p->col};
        if (p->pos >= p->len) {
                parser_fail(p, p->line, p->col, "unexpected end of template inside a tag");
                return -EINVAL;
        }
        if (at_tag_end(p)) {
                t->type = T_END;
                return 0;
        }
        if (is_name_start(p->src[p->pos])) {
                size_t n = 0;
                while (p->pos + n < p->len && is_name_char(p->src[p->pos + n]))
                        n++;
                t->type = T_NAME;
                t->len = n;
                advance(p, n);
                return 0;
        }
        if (isdigit((unsigned char) p->src[p->pos])) {
                size_t n = 0;
                bool dot = false;
                while (p->pos + n < p->len &&
                       (isdigit((unsigned char) p->src[p->pos + n]) || p->src[p->pos + n] == '_' ||
                        (!dot && p->src[p->pos + n] == '.' && p->pos + n + 1 < p->len &&
                         isdigit((unsigned char) p->src[p->pos + n + 1])))) {
                        dot = dot || p->src[p->pos + n] == '.';
                        n++;
                }
                t->type = dot ? T_FLOAT : T_INT;
                t->len = n;
                advance(p, n);
                return 0;
        }
        if (p->src[p->pos] == '\'' || p->src[p->pos] == '"') {
                char q = p->src[p->pos];
                size_t n = 1;
                while (p->pos + n < p->len && p->src[p->pos + n] != q)
                        n += p->src[p->pos + n] == '\\' && p->pos + n + 1 < p->len ? 2 : 1;
                if (p->pos + n >= p->len) {
                        parser_fail(p, t->line, t->col, "unterminated string");
                        return -EINVAL;
                }
                t->type = T_STRING;
                t->len = n + 1;
                advance(p, n + 1);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(ops); i++)
                if (at(p, ops[i])) {
                        t->type = T_OP;
                        t->len = strlen(ops[i]);
                        advance(p, t->len);
                        return 0;
                }
        parser_fail(p, t->line, t->col, "unexpected character '%c'", p->src[p->pos]);
        return -EINVAL;
}

static int peek_tok(struct parser *p, struct tok *t) {
        int r;

        if (!p->has_peeked) {
                r = next_tok(p, &p->peeked);
                if (r < 0)
                        return r;
                p->has_peeked = true;
        }
        *t = p->peeked;
        return 0;
}

static bool tok_is(const struct tok *t, enum tok_type type, const char *s) {
        return t->type == type && t->len == strlen(s) && memcmp(t->s, s, t->len) == 0;
}

static bool tok_name(const struct tok *t, const char *s) {
        return tok_is(t, T_NAME, s);
}

static bool tok_op(const struct tok *t, const char *s) {
        return tok_is(t, T_OP, s);
}

/* Takes the next token when it is of type and spells s. */
static int accept_tok(struct parser *p, enum tok_type type, const char *s, bool *ret) {
        struct tok t;
        int r = peek_tok(p, &t);

        if (r < 0)
                return r;
        *ret = tok_is(&t, type, s);
        if (*ret)
                p->has_peeked = false;
        return 0;
}

static int accept_op(struct parser *p, const char *s, bool *ret) {
        return accept_tok(p, T_OP, s, ret);
}

static int accept_name(struct parser *p, const char *s, bool *ret) {
        return accept_tok(p, T_NAME, s, ret);
}

static int expect_op(struct parser *p, const char *s) {
        struct tok t;
        int r = next_tok(p, &t);

        if (r < 0)
                return r;
        if (!tok_op(&t, s)) {
                parser_fail(p, t.line, t.col, "expected '%s'", s);
                return -EINVAL;
        }
        return 0;
}

/* A string literal's value, with Python's common escapes. */
static json_t *string_value(const struct tok *t) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;

        for (size_t i = 1; i + 1 < t->len; i++) {
                char c = t->s[i];
                int r;
                if (c == '\\' && i + 2 < t->len) {
                        char e = t->s[++i];
                        const char *rep = e == 'n'    ? "\n"
                                          : e == 't'  ? "\t"
                                          : e == 'r'  ? "\r"
                                          : e == '\\' ? "\\"
                                          : e == '\'' ? "'"
                                          : e == '"'  ? "\""
                                                      : NULL;
                        r = rep ? strbuf_puts(&b, rep) : strbuf_append(&b, t->s + i - 1, 2);
                } else
                        r = strbuf_append(&b, &c, 1);
                if (r < 0)
                        return NULL;
        }
        return json_stringn(b.data ? b.data : "", b.len);
}

/* ----------------------------------------------------------- expressions */

static void expr_free(struct expr *e) {
        if (!e)
                return;
        json_decref(e->literal);
        free(e->name);
        expr_free(e->a);
        expr_free(e->b);
        expr_free(e->c);
        for (size_t i = 0; i < e->n_args; i++)
                expr_free(e->args[i]);
        free(e->args);
        free(e);
}

static struct expr *expr_new(struct parser *p, enum expr_type type, const struct tok *at_tok) {
        struct expr *e;

        if (++p->n_nodes > MAX_NODES) {
                parser_fail(p, at_tok->line, at_tok->col, "template too large (more than %d nodes)", MAX_NODES);
                return NULL;
        }
        e = calloc(1, sizeof(*e));
        if (!e) {
                parser_fail(p, at_tok->line, at_tok->col, "out of memory");
                return NULL;
        }
        e->type = type;
        e->line = at_tok->line;
        e->col = at_tok->col;
        return e;
}

static struct expr *parse_expr(struct parser *p, unsigned depth);

static int push_arg(struct parser *p, struct expr *e, struct expr *arg) {
        struct expr **v = realloc(e->args, (e->n_args + 1) * sizeof(*v));

        if (!v) {
                expr_free(arg);
                parser_fail(p, e->line, e->col, "out of memory");
                return -ENOMEM;
        }
        e->args = v;
        e->args[e->n_args++] = arg;
        return 0;
}

/* ( args ) after a filter name or [ items ] of a list, up to close. */
static int parse_args(struct parser *p, struct expr *e, const char *close, unsigned depth) {
        bool done;
        int r = accept_op(p, close, &done);

        while (r >= 0 && !done) {
                struct expr *arg = parse_expr(p, depth + 1);
                if (!arg)
                        return -EINVAL;
                r = push_arg(p, e, arg);
                if (r >= 0)
                        r = accept_op(p, close, &done);
                if (r >= 0 && !done)
                        r = expect_op(p, ",");
                if (r >= 0 && !done)
                        r = accept_op(p, close, &done); /* a trailing comma */
        }
        return r;
}

static char *tok_strdup(const struct tok *t) {
        return strndup(t->s, t->len);
}

static struct expr *parse_primary(struct parser *p, unsigned depth) {
        struct expr *e = NULL;
        struct tok t;

        if (depth > MAX_DEPTH) {
                parser_fail(p, p->line, p->col, "expression nested too deep (more than %d levels)", MAX_DEPTH);
                return NULL;
        }
        if (next_tok(p, &t) < 0)
                return NULL;
        if (t.type == T_NAME) {
                static const char *const consts[] = {"true", "True", "false", "False", "none", "None"};
                for (size_t i = 0; i < ELEMENTSOF(consts); i++)
                        if (tok_name(&t, consts[i])) {
                                e = expr_new(p, E_LITERAL, &t);
                                if (e)
                                        e->literal = i < 2 ? json_true() : i < 4 ? json_false() : json_null();
                                return e;
                        }
                e = expr_new(p, E_NAME, &t);
                if (e && !(e->name = tok_strdup(&t))) {
                        expr_free(e);
                        parser_fail(p, t.line, t.col, "out of memory");
                        return NULL;
                }
                return e;
        }
        if (t.type == T_STRING || t.type == T_INT || t.type == T_FLOAT) {
                _cleanup_free_ char *num = t.type == T_STRING ? NULL : tok_strdup(&t);
                e = expr_new(p, E_LITERAL, &t);
                if (!e)
                        return NULL;
                if (num) {
                        char *w = num;
                        for (char *q = num; *q; q++) /* 1_000 */
                                if (*q != '_')
                                        *w++ = *q;
                        *w = 0;
                }
                e->literal = t.type == T_STRING ? string_value(&t)
                             : t.type == T_INT  ? json_integer((json_int_t) strtoll(num ? num : "0", NULL, 10))
                                                : json_real(strtod(num ? num : "0", NULL));
                if (!e->literal) {
                        expr_free(e);
                        parser_fail(p, t.line, t.col, "out of memory");
                        return NULL;
                }
                return e;
        }
        if (tok_op(&t, "(")) {
                e = parse_expr(p, depth + 1);
                if (e && expect_op(p, ")") < 0) {
                        expr_free(e);
                        return NULL;
                }
                if (e)
                        e->paren = true;
                return e;
        }
        if (tok_op(&t, "[")) {
                e = expr_new(p, E_LIST, &t);
                if (e && parse_args(p, e, "]", depth) < 0) {
                        expr_free(e);
                        return NULL;
                }
                return e;
        }
        if (t.type == T_END)
                parser_fail(p, t.line, t.col, "expected an expression");
        else
                parser_fail(p, t.line, t.col, "unexpected '%.*s'", (int) t.len, t.s);
        return NULL;
}

/* primary, then .name / [expr] / .items() and the like. */
static struct expr *parse_postfix(struct parser *p, unsigned depth) {
        struct expr *e = parse_primary(p, depth);

        while (e) {
                struct tok t, n;
                bool dot, bracket = false;
                if (accept_op(p, ".", &dot) < 0 || (!dot && accept_op(p, "[", &bracket) < 0))
                        break;
                if (!dot && !bracket)
                        return e;
                if (dot) {
                        struct expr *a;
                        bool call;
                        if (next_tok(p, &n) < 0)
                                break;
                        if (n.type != T_NAME && n.type != T_INT) {
                                parser_fail(p, n.line, n.col, "expected a name after '.'");
                                break;
                        }
                        if (accept_op(p, "(", &call) < 0)
                                break;
                        a = expr_new(p, call ? E_CALL : E_ATTR, &n);
                        if (!a)
                                break;
                        a->a = e;
                        e = a;
                        if (!(a->name = tok_strdup(&n))) {
                                parser_fail(p, n.line, n.col, "out of memory");
                                break;
                        }
                        if (n.type == T_INT && !call) { /* list.0 is list[0] */
                                a->b = expr_new(p, E_LITERAL, &n);
                                if (!a->b || !(a->b->literal = json_integer(strtoll(a->name, NULL, 10))))
                                        break;
                        }
                        if (call) {
                                if (!streq(a->name, "items") && !streq(a->name, "keys") && !streq(a->name, "values")) {
                                        parser_fail(p, n.line, n.col,
                                                    "calling '%s()' is not in kiln's jinja subset (only items(), "
                                                    "keys() and values())",
                                                    a->name);
                                        break;
                                }
                                if (expect_op(p, ")") < 0)
                                        break;
                        }
                        continue;
                }
                if (peek_tok(p, &t) < 0)
                        break;
                {
                        struct expr *a = expr_new(p, E_ATTR, &t);
                        if (!a)
                                break;
                        a->a = e;
                        e = a;
                        a->b = parse_expr(p, depth + 1);
                        if (!a->b || expect_op(p, "]") < 0)
                                break;
                }
        }
        expr_free(e);
        return NULL;
}

static struct expr *parse_prefix(struct parser *p, unsigned depth, bool logical);

/* postfix, then | filter(args) and is [not] test. */
static struct expr *parse_filtered(struct parser *p, unsigned depth) {
        struct expr *e = parse_postfix(p, depth);

        while (e) {
                bool pipe, is = false, args;
                struct tok n;
                struct expr *f;
                if (accept_op(p, "|", &pipe) < 0 || (!pipe && accept_name(p, "is", &is) < 0))
                        break;
                if (!pipe && !is)
                        return e;
                if (next_tok(p, &n) < 0)
                        break;
                f = expr_new(p, pipe ? E_FILTER : E_TEST, &n);
                if (!f)
                        break;
                f->a = e;
                e = f;
                if (is && tok_name(&n, "not")) {
                        f->negate = true;
                        if (next_tok(p, &n) < 0)
                                break;
                }
                if (n.type != T_NAME) {
                        parser_fail(p, n.line, n.col, "expected a %s name", pipe ? "filter" : "test");
                        break;
                }
                if (!(f->name = tok_strdup(&n))) {
                        parser_fail(p, n.line, n.col, "out of memory");
                        break;
                }
                if (accept_op(p, "(", &args) < 0 || (args && parse_args(p, f, ")", depth) < 0))
                        break;
        }
        expr_free(e);
        return NULL;
}

static struct expr *parse_compare(struct parser *p, unsigned depth);

/* A prefix operator, then what it binds tighter than: "not" (logical)
 * before a comparison, or "-" before a filtered value. */
static struct expr *parse_prefix(struct parser *p, unsigned depth, bool logical) {
        bool found;
        struct tok t;

        if (depth > MAX_DEPTH) {
                parser_fail(p, p->line, p->col, "expression nested too deep (more than %d levels)", MAX_DEPTH);
                return NULL;
        }
        if (peek_tok(p, &t) < 0 || (logical ? accept_name(p, "not", &found) : accept_op(p, "-", &found)) < 0)
                return NULL;
        if (found) {
                struct expr *e = expr_new(p, logical ? E_NOT : E_NEG, &t);
                if (e && !(e->a = parse_prefix(p, depth + 1, logical))) {
                        expr_free(e);
                        return NULL;
                }
                return e;
        }
        return logical ? parse_compare(p, depth) : parse_filtered(p, depth);
}

/* + - ~ (jinja: ~ and +/- at about the same level, left to right). */
static struct expr *parse_arith(struct parser *p, unsigned depth) {
        struct expr *e = parse_prefix(p, depth, false);

        while (e) {
                struct tok t;
                struct expr *o;
                if (peek_tok(p, &t) < 0)
                        break;
                if (!tok_op(&t, "~") && !tok_op(&t, "+") && !tok_op(&t, "-")) {
                        if (tok_op(&t, "*") || tok_op(&t, "/") || tok_op(&t, "//") || tok_op(&t, "%") ||
                            tok_op(&t, "**")) {
                                parser_fail(p, t.line, t.col, "the operator '%.*s' is not in kiln's jinja subset",
                                            (int) t.len, t.s);
                                break;
                        }
                        return e;
                }
                p->has_peeked = false;
                o = expr_new(p, tok_op(&t, "~") ? E_CONCAT : tok_op(&t, "+") ? E_ADD : E_SUB, &t);
                if (!o)
                        break;
                o->a = e;
                e = o;
                if (!(o->b = parse_prefix(p, depth + 1, false)))
                        break;
        }
        expr_free(e);
        return NULL;
}

/* a == b != c ...: a chain, as jinja compares (each pair, all must hold). */
static struct expr *parse_compare(struct parser *p, unsigned depth) {
        static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">"};
        struct expr *e = parse_arith(p, depth);

        while (e) {
                struct tok t, t2;
                const char *op = NULL;
                struct expr *c;
                if (peek_tok(p, &t) < 0)
                        break;
                for (size_t i = 0; i < ELEMENTSOF(ops) && !op; i++)
                        if (tok_op(&t, ops[i]))
                                op = ops[i];
                if (tok_name(&t, "in"))
                        op = "in";
                if (tok_name(&t, "not")) {
                        /* "not in"; a "not" here can be nothing else */
                        p->has_peeked = false;
                        if (next_tok(p, &t2) < 0)
                                break;
                        if (!tok_name(&t2, "in")) {
                                parser_fail(p, t2.line, t2.col, "expected 'in' after 'not'");
                                break;
                        }
                        op = "not in";
                } else if (op)
                        p->has_peeked = false;
                if (!op)
                        return e;
                c = expr_new(p, E_CMP, &t);
                if (!c)
                        break;
                c->a = e;
                e = c;
                if (!(c->name = strdup(op))) {
                        parser_fail(p, t.line, t.col, "out of memory");
                        break;
                }
                if (!(c->b = parse_arith(p, depth + 1)))
                        break;
        }
        expr_free(e);
        return NULL;
}

static struct expr *parse_logic(struct parser *p, unsigned depth, bool or) {
        struct expr *e = or ? parse_logic(p, depth + 1, false) : parse_prefix(p, depth + 1, true);

        while (e) {
                struct tok t;
                bool yes;
                struct expr *o;
                if (peek_tok(p, &t) < 0 || accept_name(p, or ? "or" : "and", &yes) < 0)
                        break;
                if (!yes)
                        return e;
                o = expr_new(p, or ? E_OR : E_AND, &t);
                if (!o)
                        break;
                o->a = e;
                e = o;
                if (!(o->b = or ? parse_logic(p, depth + 1, false) : parse_prefix(p, depth + 1, true)))
                        break;
        }
        expr_free(e);
        return NULL;
}

/* or-expression [if or-expression [else expression]] */
static struct expr *parse_expr(struct parser *p, unsigned depth) {
        struct expr *e, *c;
        struct tok t;
        bool cond, els;

        if (depth > MAX_DEPTH) {
                parser_fail(p, p->line, p->col, "expression nested too deep (more than %d levels)", MAX_DEPTH);
                return NULL;
        }
        e = parse_logic(p, depth + 1, true);
        if (!e || peek_tok(p, &t) < 0 || accept_name(p, "if", &cond) < 0 || !cond)
                return p->error ? (expr_free(e), NULL) : e;
        c = expr_new(p, E_COND, &t);
        if (!c) {
                expr_free(e);
                return NULL;
        }
        c->a = e;
        if (!(c->b = parse_logic(p, depth + 1, true)) || accept_name(p, "else", &els) < 0 ||
            (els && !(c->c = parse_expr(p, depth + 1)))) {
                expr_free(c);
                return NULL;
        }
        return c;
}

/* ------------------------------------------------------------ templates */

static void nodes_free(struct nodes *ns);

static void node_done(struct node *n) {
        expr_free(n->expr);
        for (size_t i = 0; i < n->n_branches; i++) {
                expr_free(n->branches[i].cond);
                nodes_free(&n->branches[i].body);
        }
        free(n->branches);
        free(n->var1);
        free(n->var2);
        nodes_free(&n->body);
        nodes_free(&n->else_body);
}

static void nodes_free(struct nodes *ns) {
        for (size_t i = 0; i < ns->n; i++)
                node_done(&ns->v[i]);
        free(ns->v);
        *ns = (struct nodes){};
}

static struct node *nodes_add(struct parser *p, struct nodes *ns, enum node_type type, size_t line, size_t col) {
        struct node *v;

        if (++p->n_nodes > MAX_NODES) {
                parser_fail(p, line, col, "template too large (more than %d nodes)", MAX_NODES);
                return NULL;
        }
        v = realloc(ns->v, (ns->n + 1) * sizeof(*v));
        if (!v) {
                parser_fail(p, line, col, "out of memory");
                return NULL;
        }
        ns->v = v;
        v = &ns->v[ns->n++];
        *v = (struct node){.type = type, .line = line, .col = col};
        return v;
}

/* Ends the tag: "}}", "%}" with their whitespace control, and trim_blocks
 * (the newline right after a block's "%}" or a comment's "#}" goes). */
static int end_tag(struct parser *p) {
        struct tok t;
        bool minus, plus;

        if (next_tok(p, &t) < 0)
                return -EINVAL;
        if (t.type != T_END) {
                parser_fail(p, t.line, t.col, "unexpected '%.*s' (expected the end of the tag)", (int) t.len, t.s);
                return -EINVAL;
        }
        minus = at(p, "-");
        plus = at(p, "+");
        advance(p, 2 + (minus || plus));
        p->lstrip_next = minus;
        if (!minus && !plus && !p->in_output && at(p, "\n"))
                advance(p, 1);
        return 0;
}

struct open_tag {
        const char *name; /* "if", "for" */
        size_t line, col;
};

static int parse_body(struct parser *p, struct nodes *out, const char *const *ends, char **ret_end, unsigned depth,
                      const struct open_tag *open);

/* A tag's text up to the end of the tag, whitespace control dropped. */
static int skip_comment(struct parser *p, size_t line, size_t col) {
        const char *end = NULL;

        for (size_t i = p->pos; i + 1 < p->len && !end; i++)
                if (p->src[i] == '#' && p->src[i + 1] == '}')
                        end = p->src + i;
        if (!end) {
                parser_fail(p, line, col, "missing end of comment tag");
                return -EINVAL;
        }
        p->lstrip_next = end > p->src + p->pos && end[-1] == '-';
        advance(p, (size_t) (end - (p->src + p->pos)) + 2);
        if (!p->lstrip_next && !(end > p->src && end[-1] == '+') && at(p, "\n"))
                advance(p, 1);
        return 0;
}

/* {% raw %} ... {% endraw %}: everything in between, as it is. */
static int parse_raw(struct parser *p, struct nodes *out, size_t line, size_t col) {
        size_t start;

        if (p->lstrip_next)
                while (p->pos < p->len && isspace((unsigned char) p->src[p->pos]))
                        advance(p, 1);
        p->lstrip_next = false;
        start = p->pos;

        for (size_t i = p->pos; i + 1 < p->len; i++) {
                size_t j = i + 2, text_end = i;
                struct node *n;
                if (p->src[i] != '{' || p->src[i + 1] != '%')
                        continue;
                if (j < p->len && (p->src[j] == '-' || p->src[j] == '+'))
                        j++;
                while (j < p->len && isspace((unsigned char) p->src[j]))
                        j++;
                if (p->len - j < 6 || memcmp(p->src + j, "endraw", 6) != 0 ||
                    (j + 6 < p->len && is_name_char(p->src[j + 6])))
                        continue;
                if (p->src[i + 2] == '-')
                        while (text_end > start && isspace((unsigned char) p->src[text_end - 1]))
                                text_end--;
                n = nodes_add(p, out, N_TEXT, line, col);
                if (!n)
                        return -EINVAL;
                n->text = p->src + start;
                n->text_len = text_end - start;
                advance(p, j + 6 - p->pos);
                p->in_output = false;
                return end_tag(p);
        }
        parser_fail(p, line, col, "missing {%% endraw %%}");
        return -EINVAL;
}

static int parse_for(struct parser *p, struct nodes *out, size_t line, size_t col, unsigned depth) {
        static const char *const ends[] = {"else", "endfor", NULL};
        struct open_tag open = {"for", line, col};
        struct node *n = nodes_add(p, out, N_FOR, line, col);
        _cleanup_free_ char *end = NULL;
        struct tok t;
        bool comma;

        if (!n || next_tok(p, &t) < 0)
                return -EINVAL;
        if (t.type != T_NAME || !(n->var1 = tok_strdup(&t))) {
                parser_fail(p, t.line, t.col, "expected a loop variable after 'for'");
                return -EINVAL;
        }
        if (accept_op(p, ",", &comma) < 0)
                return -EINVAL;
        if (comma) {
                if (next_tok(p, &t) < 0)
                        return -EINVAL;
                if (t.type != T_NAME || !(n->var2 = tok_strdup(&t))) {
                        parser_fail(p, t.line, t.col, "expected a second loop variable");
                        return -EINVAL;
                }
        }
        if (next_tok(p, &t) < 0)
                return -EINVAL;
        if (!tok_name(&t, "in")) {
                parser_fail(p, t.line, t.col, "expected 'in' in the for loop");
                return -EINVAL;
        }
        if (!(n->expr = parse_expr(p, 0)) || end_tag(p) < 0)
                return -EINVAL;
        if (parse_body(p, &n->body, ends, &end, depth + 1, &open) < 0)
                return -EINVAL;
        if (streq(end, "else")) {
                static const char *const endfor[] = {"endfor", NULL};
                free(end);
                end = NULL;
                if (end_tag(p) < 0 || parse_body(p, &n->else_body, endfor, &end, depth + 1, &open) < 0)
                        return -EINVAL;
        }
        return end_tag(p);
}

static int parse_if(struct parser *p, struct nodes *out, size_t line, size_t col, unsigned depth) {
        static const char *const ends[] = {"elif", "else", "endif", NULL};
        struct open_tag open = {"if", line, col};
        struct node *n = nodes_add(p, out, N_IF, line, col);
        bool els = false;

        if (!n)
                return -EINVAL;
        for (;;) {
                _cleanup_free_ char *end = NULL;
                struct branch *b = realloc(n->branches, (n->n_branches + 1) * sizeof(*b));
                if (!b) {
                        parser_fail(p, line, col, "out of memory");
                        return -EINVAL;
                }
                n->branches = b;
                b = &n->branches[n->n_branches++];
                *b = (struct branch){};
                if (!els && !(b->cond = parse_expr(p, 0)))
                        return -EINVAL;
                if (end_tag(p) < 0 || parse_body(p, &b->body, els ? (const char *const[]){"endif", NULL} : ends, &end,
                                                 depth + 1, &open) < 0)
                        return -EINVAL;
                if (streq(end, "endif"))
                        return end_tag(p);
                els = streq(end, "else");
        }
}

/* The statement in a {% %} tag, its name read. */
static int parse_statement(struct parser *p, struct nodes *out, const struct tok *name, const char *const *ends,
                           char **ret_end, unsigned depth, bool *ret_ended) {
        *ret_ended = false;
        for (const char *const *e = ends; e && *e; e++)
                if (tok_name(name, *e)) {
                        *ret_end = tok_strdup(name);
                        *ret_ended = true;
                        return *ret_end ? 0 : -ENOMEM;
                }
        if (tok_name(name, "if"))
                return parse_if(p, out, name->line, name->col, depth);
        if (tok_name(name, "for"))
                return parse_for(p, out, name->line, name->col, depth);
        if (tok_name(name, "raw")) {
                if (end_tag(p) < 0)
                        return -EINVAL;
                return parse_raw(p, out, name->line, name->col);
        }
        if (tok_name(name, "elif") || tok_name(name, "else") || tok_name(name, "endif") || tok_name(name, "endfor") ||
            tok_name(name, "endraw"))
                parser_fail(p, name->line, name->col, "unexpected '%.*s'", (int) name->len, name->s);
        else
                parser_fail(p, name->line, name->col, "the '%.*s' tag is not in kiln's jinja subset (if, for, raw)",
                            (int) name->len, name->s);
        return -EINVAL;
}

/* Text and tags up to one of ends (NULL: to the end of the template). */
static int parse_body(struct parser *p, struct nodes *out, const char *const *ends, char **ret_end, unsigned depth,
                      const struct open_tag *open) {
        if (depth > MAX_DEPTH) {
                parser_fail(p, p->line, p->col, "blocks nested too deep (more than %d levels)", MAX_DEPTH);
                return -EINVAL;
        }
        for (;;) {
                size_t start = p->pos, line = p->line, col = p->col, text_end;
                const char *tag = NULL;
                struct node *n;
                bool strip_before;

                if (p->lstrip_next) {
                        while (p->pos < p->len && isspace((unsigned char) p->src[p->pos]))
                                advance(p, 1);
                        start = p->pos;
                        line = p->line;
                        col = p->col;
                        p->lstrip_next = false;
                }
                for (size_t i = p->pos; i + 1 < p->len && !tag; i++)
                        if (p->src[i] == '{' && (p->src[i + 1] == '{' || p->src[i + 1] == '%' || p->src[i + 1] == '#'))
                                tag = p->src + i;
                text_end = tag ? (size_t) (tag - p->src) : p->len;
                strip_before = tag && (size_t) (tag - p->src) + 2 < p->len && tag[2] == '-';
                if (text_end > start) {
                        size_t e = text_end;
                        if (strip_before)
                                while (e > start && isspace((unsigned char) p->src[e - 1]))
                                        e--;
                        n = nodes_add(p, out, N_TEXT, line, col);
                        if (!n)
                                return -EINVAL;
                        n->text = p->src + start;
                        n->text_len = e - start;
                }
                advance(p, text_end - p->pos);
                if (!tag) {
                        if (open) {
                                parser_fail(p, open->line, open->col,
                                            "unexpected end of template: the '%s' opened here is not closed",
                                            open->name);
                                return -EINVAL;
                        }
                        return 0;
                }
                line = p->line;
                col = p->col;
                if (tag[1] == '#') {
                        advance(p, 2);
                        if (skip_comment(p, line, col) < 0)
                                return -EINVAL;
                        continue;
                }
                p->in_output = tag[1] == '{';
                advance(p, 2 + (tag[2] == '-' || tag[2] == '+'));
                if (p->in_output) {
                        n = nodes_add(p, out, N_OUTPUT, line, col);
                        if (!n || !(n->expr = parse_expr(p, 0)) || end_tag(p) < 0)
                                return -EINVAL;
                } else {
                        struct tok name;
                        bool ended;
                        if (next_tok(p, &name) < 0)
                                return -EINVAL;
                        if (name.type != T_NAME) {
                                parser_fail(p, name.line, name.col, "expected a tag name");
                                return -EINVAL;
                        }
                        if (parse_statement(p, out, &name, ends, ret_end, depth, &ended) < 0)
                                return -EINVAL;
                        if (ended)
                                return 0; /* the caller ends the tag */
                }
        }
}

/* ------------------------------------------------------------- evaluation */

struct val {
        json_t *j; /* a reference; NULL: undefined */
        char *undef; /* undefined: the name looked up */
};

static void val_done(struct val *v) {
        json_decref(v->j);
        free(v->undef);
        *v = (struct val){};
}

struct binding {
        const char *name;
        json_t *value;
};

struct renderer {
        const json_t *vars;
        struct binding scope[MAX_SCOPE];
        size_t n_scope;
        struct strbuf out;
        char **missing;
        size_t steps;
        char *error;
        bool too_big;
};

static void render_fail(struct renderer *r, const struct expr *e, size_t line, size_t col, const char *fmt, ...)
        _printf_(5, 6);
static void render_fail(struct renderer *r, const struct expr *e, size_t line, size_t col, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (r->error)
                return;
        va_start(ap, fmt);
        msg = strdup_vprintf(fmt, ap);
        va_end(ap);
        r->error = strdup_printf("%zu:%zu: %s", e ? e->line : line, e ? e->col : col, msg ? msg : "out of memory");
}

static int eval(struct renderer *r, const struct expr *e, struct val *ret, unsigned depth);

static bool truthy(const struct val *v) {
        const json_t *j = v->j;

        if (!j || json_is_null(j) || json_is_false(j))
                return false;
        if (json_is_string(j))
                return json_string_length(j) > 0;
        if (json_is_integer(j))
                return json_integer_value(j) != 0;
        if (json_is_real(j))
                return json_real_value(j) != 0;
        if (json_is_array(j))
                return json_array_size(j) > 0;
        if (json_is_object(j))
                return json_object_size(j) > 0;
        return true;
}

static int note_missing(struct renderer *r, const char *name) {
        for (char **m = r->missing; m && *m; m++)
                if (streq(*m, name))
                        return 0;
        if (strv_length(r->missing) >= MAX_MISSING)
                return 0;
        return strv_push(&r->missing, name);
}

/* Python's repr() of a string, as str() of a list prints its items. */
static int repr_string(struct strbuf *b, const char *s, size_t n) {
        char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
        int r = strbuf_append(b, &q, 1);

        for (size_t i = 0; r >= 0 && i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == '\\' || c == (unsigned char) q)
                        r = strbuf_printf(b, "\\%c", c);
                else if (c == '\n')
                        r = strbuf_puts(b, "\\n");
                else if (c == '\t')
                        r = strbuf_puts(b, "\\t");
                else if (c == '\r')
                        r = strbuf_puts(b, "\\r");
                else if (c < 0x20 || c == 0x7f)
                        r = strbuf_printf(b, "\\x%02x", c);
                else
                        r = strbuf_append(b, &s[i], 1);
        }
        return r < 0 ? r : strbuf_append(b, &q, 1);
}

static int format_number(struct strbuf *b, const json_t *j) {
        char buf[64];

        if (json_is_integer(j))
                return strbuf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(j));
        /* Python prints the shortest form that reads back the same */
        for (int prec = 1; prec <= 17; prec++) {
                char t[64];
                snprintf(t, sizeof(t), "%.*g", prec, json_real_value(j));
                if (strtod(t, NULL) == json_real_value(j)) {
                        memcpy(buf, t, sizeof(t));
                        break;
                }
        }
        if (!strpbrk(buf, ".eni"))
                strcat(buf, ".0");
        return strbuf_puts(b, buf);
}

/* str() as Python prints it. */
static int format_value(struct renderer *r, struct strbuf *b, const struct val *v, bool repr, unsigned depth) {
        const json_t *j = v->j;
        int ret = 0;

        if (depth > MAX_DEPTH)
                return strbuf_puts(b, "...");
        if (!j) {
                ret = note_missing(r, v->undef ? v->undef : "");
                return ret < 0 ? ret : strbuf_printf(b, "%s%s", JINJA_MISSING_PREFIX, v->undef ? v->undef : "");
        }
        if (json_is_string(j))
                return repr ? repr_string(b, json_string_value(j), json_string_length(j))
                            : strbuf_append(b, json_string_value(j), json_string_length(j));
        if (json_is_true(j))
                return strbuf_puts(b, "True");
        if (json_is_false(j))
                return strbuf_puts(b, "False");
        if (json_is_null(j))
                return strbuf_puts(b, "None");
        if (json_is_number(j))
                return format_number(b, j);
        if (json_is_array(j)) {
                size_t i;
                json_t *item;
                ret = strbuf_puts(b, "[");
                json_array_foreach((json_t *) j, i, item) {
                        struct val iv = {.j = item};
                        if (ret >= 0 && i > 0)
                                ret = strbuf_puts(b, ", ");
                        if (ret >= 0)
                                ret = format_value(r, b, &iv, true, depth + 1);
                }
                return ret < 0 ? ret : strbuf_puts(b, "]");
        }
        if (json_is_object(j)) {
                const char *k;
                json_t *item;
                bool first = true;
                ret = strbuf_puts(b, "{");
                json_object_foreach((json_t *) j, k, item) {
                        struct val iv = {.j = item};
                        if (ret >= 0 && !first)
                                ret = strbuf_puts(b, ", ");
                        first = false;
                        if (ret >= 0)
                                ret = repr_string(b, k, strlen(k));
                        if (ret >= 0)
                                ret = strbuf_puts(b, ": ");
                        if (ret >= 0)
                                ret = format_value(r, b, &iv, true, depth + 1);
                }
                return ret < 0 ? ret : strbuf_puts(b, "}");
        }
        return 0;
}

/* The value as a string (str()), a new json string. */
static int to_string(struct renderer *r, const struct val *v, json_t **ret) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        int k = format_value(r, &b, v, false, 0);

        if (k < 0)
                return k;
        if (b.len > JINJA_MAX_OUTPUT) {
                r->too_big = true;
                return -EFBIG;
        }
        *ret = json_stringn(b.data ? b.data : "", b.len);
        return *ret ? 0 : -ENOMEM;
}

static const char *type_name(const json_t *j) {
        return !j                   ? "undefined"
               : json_is_string(j)  ? "str"
               : json_is_integer(j) ? "int"
               : json_is_real(j)    ? "float"
               : json_is_boolean(j) ? "bool"
               : json_is_null(j)    ? "NoneType"
               : json_is_array(j)   ? "list"
                                    : "dict";
}

static double number_value(const json_t *j) {
        return json_is_boolean(j) ? (json_is_true(j) ? 1 : 0) : json_number_value(j);
}

static bool is_number(const json_t *j) {
        return json_is_number(j) || json_is_boolean(j);
}

/* Python's ==. */
static bool equal(const struct val *a, const struct val *b) {
        if (!a->j || !b->j)
                return !a->j && !b->j; /* Undefined == Undefined */
        if (is_number(a->j) && is_number(b->j))
                return number_value(a->j) == number_value(b->j);
        return json_equal(a->j, b->j);
}

/* Looks name up: the loop variables, innermost first, then vars. */
static int lookup(struct renderer *r, const char *name, struct val *ret) {
        for (size_t i = r->n_scope; i > 0; i--)
                if (streq(r->scope[i - 1].name, name)) {
                        ret->j = json_incref(r->scope[i - 1].value);
                        return 0;
                }
        ret->j = json_incref(json_object_get(r->vars, name));
        if (!ret->j && !(ret->undef = strdup(name)))
                return -ENOMEM;
        return 0;
}

static int getattr(struct renderer *r, const struct expr *e, struct val *obj, const struct val *key, struct val *ret) {
        json_t *k = key->j, *found = NULL;
        _cleanup_free_ char *name = NULL;

        if (!obj->j) {
                render_fail(r, e, 0, 0, "'%s' is undefined", obj->undef ? obj->undef : "");
                return -EINVAL;
        }
        if (!k) {
                render_fail(r, e, 0, 0, "'%s' is undefined", key->undef ? key->undef : "");
                return -EINVAL;
        }
        if (json_is_object(obj->j) && json_is_string(k))
                found = json_object_get(obj->j, json_string_value(k));
        else if ((json_is_array(obj->j) || json_is_string(obj->j)) && json_is_integer(k)) {
                json_int_t i = json_integer_value(k);
                json_int_t n = json_is_array(obj->j) ? (json_int_t) json_array_size(obj->j)
                                                     : (json_int_t) json_string_length(obj->j);
                if (i < 0)
                        i += n;
                if (i >= 0 && i < n && json_is_array(obj->j))
                        found = json_array_get(obj->j, (size_t) i);
                else if (i >= 0 && i < n) {
                        ret->j = json_stringn(json_string_value(obj->j) + i, 1);
                        return ret->j ? 0 : -ENOMEM;
                }
        }
        if (found) {
                ret->j = json_incref(found);
                return 0;
        }
        if (json_is_string(k))
                name = strdup(json_string_value(k));
        else {
                _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
                if (format_value(r, &b, key, false, 0) < 0)
                        return -ENOMEM;
                name = strbuf_steal(&b);
        }
        if (!name)
                return -ENOMEM;
        ret->undef = TAKE_PTR(name);
        return 0;
}

/* d.items() / keys() / values() */
static int call_method(struct renderer *r, const struct expr *e, const struct val *obj, struct val *ret) {
        _cleanup_json_ json_t *list = json_array();
        const char *k;
        json_t *v;

        if (!list)
                return -ENOMEM;
        if (!json_is_object(obj->j)) {
                if (!obj->j)
                        render_fail(r, e, 0, 0, "'%s' is undefined", obj->undef ? obj->undef : "");
                else
                        render_fail(r, e, 0, 0, "'%s' object has no attribute '%s'", type_name(obj->j), e->name);
                return -EINVAL;
        }
        json_object_foreach(obj->j, k, v) {
                json_t *item = streq(e->name, "keys")     ? json_string(k)
                               : streq(e->name, "values") ? json_incref(v)
                                                          : json_pack("[sO]", k, v);
                if (!item || json_array_append_new(list, item) < 0)
                        return -ENOMEM;
        }
        ret->j = TAKE_PTR(list);
        return 0;
}

static int compare(struct renderer *r, const struct expr *e, const struct val *a, const struct val *b, bool *ret) {
        const char *op = e->name;

        if (streq(op, "==") || streq(op, "!=")) {
                *ret = equal(a, b) == streq(op, "==");
                return 0;
        }
        if (streq(op, "in") || streq(op, "not in")) {
                bool found = false;
                if (!b->j)
                        found = false; /* iterating Undefined gives nothing */
                else if (json_is_string(b->j)) {
                        if (!a->j || !json_is_string(a->j)) {
                                render_fail(r, e, 0, 0, "'in <string>' requires string as left operand, not %s",
                                            type_name(a->j));
                                return -EINVAL;
                        }
                        found = json_string_length(a->j) == 0 ||
                                memmem(json_string_value(b->j), json_string_length(b->j), json_string_value(a->j),
                                       json_string_length(a->j));
                } else if (json_is_array(b->j)) {
                        size_t i;
                        json_t *item;
                        json_array_foreach(b->j, i, item) {
                                struct val iv = {.j = item};
                                found = found || equal(a, &iv);
                        }
                } else if (json_is_object(b->j)) {
                        found = a->j && json_is_string(a->j) && json_object_get(b->j, json_string_value(a->j));
                } else {
                        render_fail(r, e, 0, 0, "argument of type '%s' is not iterable", type_name(b->j));
                        return -EINVAL;
                }
                *ret = found == streq(op, "in");
                return 0;
        }
        /* < <= > >= */
        if (!a->j || !b->j) {
                render_fail(r, e, 0, 0, "'%s' is undefined", !a->j ? a->undef : b->undef);
                return -EINVAL;
        }
        {
                int c;
                if (is_number(a->j) && is_number(b->j)) {
                        double x = number_value(a->j), y = number_value(b->j);
                        c = x < y ? -1 : x > y ? 1 : 0;
                } else if (json_is_string(a->j) && json_is_string(b->j)) {
                        size_t n = json_string_length(a->j) < json_string_length(b->j) ? json_string_length(a->j)
                                                                                       : json_string_length(b->j);
                        c = memcmp(json_string_value(a->j), json_string_value(b->j), n);
                        if (c == 0)
                                c = json_string_length(a->j) < json_string_length(b->j)   ? -1
                                    : json_string_length(a->j) > json_string_length(b->j) ? 1
                                                                                          : 0;
                } else {
                        render_fail(r, e, 0, 0, "'%s' not supported between instances of '%s' and '%s'", op,
                                    type_name(a->j), type_name(b->j));
                        return -EINVAL;
                }
                *ret = streq(op, "<") ? c < 0 : streq(op, "<=") ? c <= 0 : streq(op, ">") ? c > 0 : c >= 0;
        }
        return 0;
}

static int filter_args(struct renderer *r, const struct expr *e, size_t min, size_t max) {
        if (e->n_args < min || e->n_args > max) {
                render_fail(r, e, 0, 0, "the filter '%s' takes %zu to %zu arguments, not %zu", e->name, min, max,
                            e->n_args);
                return -EINVAL;
        }
        return 0;
}

static int apply_filter(struct renderer *r, const struct expr *e, struct val *v, struct val *ret, unsigned depth) {
        struct val args[3] = {};
        int k = 0;
        const char *f = e->name;

        if (!streq(f, "default") && !streq(f, "d") && !streq(f, "lower") && !streq(f, "upper") &&
            !streq(f, "replace") && !streq(f, "trim") && !streq(f, "length") && !streq(f, "count") &&
            !streq(f, "string") && !streq(f, "join") && !streq(f, "first") && !streq(f, "last") && !streq(f, "int")) {
                render_fail(r, e, 0, 0, "the filter '%s' is not in kiln's jinja subset", f);
                return -EINVAL;
        }
        if (e->n_args > ELEMENTSOF(args)) {
                render_fail(r, e, 0, 0, "too many arguments to the filter '%s'", f);
                return -EINVAL;
        }
        for (size_t i = 0; i < e->n_args && k >= 0; i++)
                k = eval(r, e->args[i], &args[i], depth + 1);
        if (k < 0)
                goto out;
        if (streq(f, "default") || streq(f, "d")) {
                k = filter_args(r, e, 0, 2);
                if (k >= 0 && (!v->j || (e->n_args == 2 && truthy(&args[1]) && !truthy(v)))) {
                        if (e->n_args == 0)
                                ret->j = json_string("");
                        else
                                *ret = args[0], args[0] = (struct val){};
                        k = ret->j || ret->undef ? 0 : -ENOMEM;
                } else if (k >= 0)
                        *ret = *v, *v = (struct val){};
        } else if (streq(f, "length") || streq(f, "count")) {
                k = filter_args(r, e, 0, 0);
                if (k >= 0) {
                        size_t n = !v->j                  ? 0
                                   : json_is_string(v->j) ? json_string_length(v->j)
                                   : json_is_array(v->j)  ? json_array_size(v->j)
                                   : json_is_object(v->j) ? json_object_size(v->j)
                                                          : SIZE_MAX;
                        if (n == SIZE_MAX) {
                                render_fail(r, e, 0, 0, "object of type '%s' has no len()", type_name(v->j));
                                k = -EINVAL;
                        } else
                                k = (ret->j = json_integer((json_int_t) n)) ? 0 : -ENOMEM;
                }
        } else if (streq(f, "first") || streq(f, "last")) {
                k = filter_args(r, e, 0, 0);
                if (k >= 0 && v->j && json_is_array(v->j) && json_array_size(v->j) > 0)
                        ret->j = json_incref(json_array_get(v->j, streq(f, "first") ? 0 : json_array_size(v->j) - 1));
                else if (k >= 0 && !(ret->undef = strdup("first")))
                        k = -ENOMEM;
        } else if (streq(f, "join")) {
                _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
                json_t *sep_s = NULL;
                k = filter_args(r, e, 0, 1);
                if (k >= 0 && e->n_args == 1)
                        k = to_string(r, &args[0], &sep_s);
                if (k >= 0 && v->j && json_is_array(v->j)) {
                        size_t i;
                        json_t *item;
                        json_array_foreach(v->j, i, item) {
                                struct val iv = {.j = item};
                                if (k >= 0 && i > 0 && sep_s)
                                        k = strbuf_append(&b, json_string_value(sep_s), json_string_length(sep_s));
                                if (k >= 0)
                                        k = format_value(r, &b, &iv, false, 0);
                                if (k >= 0 && b.len > JINJA_MAX_OUTPUT) {
                                        r->too_big = true;
                                        k = -EFBIG;
                                }
                        }
                } else if (k >= 0 && v->j) {
                        render_fail(r, e, 0, 0, "the filter 'join' needs a list, not %s", type_name(v->j));
                        k = -EINVAL;
                }
                json_decref(sep_s);
                if (k >= 0)
                        k = (ret->j = json_stringn(b.data ? b.data : "", b.len)) ? 0 : -ENOMEM;
        } else if (streq(f, "int")) {
                k = filter_args(r, e, 0, 1);
                if (k >= 0) {
                        json_int_t n = e->n_args == 1 && args[0].j && json_is_integer(args[0].j)
                                               ? json_integer_value(args[0].j)
                                               : 0;
                        if (v->j && json_is_integer(v->j))
                                n = json_integer_value(v->j);
                        else if (v->j && json_is_real(v->j))
                                n = json_real_value(v->j) > -9.2e18 && json_real_value(v->j) < 9.2e18
                                            ? (json_int_t) json_real_value(v->j)
                                            : 0;
                        else if (v->j && json_is_boolean(v->j))
                                n = json_is_true(v->j);
                        else if (v->j && json_is_string(v->j)) {
                                char *end;
                                long long x = strtoll(json_string_value(v->j), &end, 10);
                                if (end != json_string_value(v->j) && *end == 0)
                                        n = x;
                        }
                        k = (ret->j = json_integer(n)) ? 0 : -ENOMEM;
                }
        } else {
                /* lower upper replace trim string: on str(value) */
                _cleanup_json_ json_t *s = NULL;
                k = filter_args(r, e, 0, streq(f, "replace") ? 3 : 0);
                if (k >= 0 && streq(f, "replace") && e->n_args < 2)
                        k = filter_args(r, e, 2, 3);
                if (k >= 0)
                        k = to_string(r, v, &s);
                if (k >= 0) {
                        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
                        const char *p = json_string_value(s);
                        size_t n = json_string_length(s);
                        if (streq(f, "trim")) {
                                while (n > 0 && isspace((unsigned char) *p))
                                        p++, n--;
                                while (n > 0 && isspace((unsigned char) p[n - 1]))
                                        n--;
                                k = strbuf_append(&b, p, n);
                        } else if (streq(f, "replace")) {
                                json_t *old = NULL, *new = NULL;
                                json_int_t count = -1;
                                k = to_string(r, &args[0], &old);
                                if (k >= 0)
                                        k = to_string(r, &args[1], &new);
                                if (k >= 0 && e->n_args == 3 && args[2].j && json_is_integer(args[2].j))
                                        count = json_integer_value(args[2].j);
                                for (size_t i = 0; k >= 0 && i < n;) {
                                        size_t on = json_string_length(old);
                                        if (count != 0 && on > 0 && n - i >= on &&
                                            memcmp(p + i, json_string_value(old), on) == 0) {
                                                k = strbuf_append(&b, json_string_value(new), json_string_length(new));
                                                i += on;
                                                count -= count > 0;
                                        } else
                                                k = strbuf_append(&b, p + i++, 1);
                                        if (k >= 0 && b.len > JINJA_MAX_OUTPUT) {
                                                r->too_big = true;
                                                k = -EFBIG;
                                        }
                                }
                                json_decref(old);
                                json_decref(new);
                        } else {
                                k = strbuf_append(&b, p, n);
                                for (size_t i = 0; k >= 0 && i < b.len; i++)
                                        if (streq(f, "lower"))
                                                b.data[i] = (char) tolower((unsigned char) b.data[i]);
                                        else if (streq(f, "upper"))
                                                b.data[i] = (char) toupper((unsigned char) b.data[i]);
                        }
                        if (k >= 0)
                                k = (ret->j = json_stringn(b.data ? b.data : "", b.len)) ? 0 : -ENOMEM;
                }
        }
out:
        for (size_t i = 0; i < ELEMENTSOF(args); i++)
                val_done(&args[i]);
        return k;
}

static int apply_test(struct renderer *r, const struct expr *e, const struct val *v, struct val *ret) {
        const char *t = e->name;
        bool yes;

        if (e->n_args > 0) {
                render_fail(r, e, 0, 0, "the test '%s' with arguments is not in kiln's jinja subset", t);
                return -EINVAL;
        }
        if (streq(t, "defined"))
                yes = v->j != NULL;
        else if (streq(t, "undefined"))
                yes = v->j == NULL;
        else if (streq(t, "none"))
                yes = v->j && json_is_null(v->j);
        else if (streq(t, "string"))
                yes = v->j && json_is_string(v->j);
        else if (streq(t, "number"))
                yes = v->j && json_is_number(v->j);
        else {
                render_fail(r, e, 0, 0, "the test '%s' is not in kiln's jinja subset", t);
                return -EINVAL;
        }
        ret->j = json_boolean(yes != e->negate);
        return 0;
}

static int arith(struct renderer *r, const struct expr *e, const struct val *a, const struct val *b, struct val *ret) {
        if (!a->j || !b->j) {
                render_fail(r, e, 0, 0, "'%s' is undefined", !a->j ? a->undef : b->undef);
                return -EINVAL;
        }
        if (e->type == E_ADD && json_is_string(a->j) && json_is_string(b->j)) {
                _cleanup_strbuf_ struct strbuf s = STRBUF_INIT;
                if (json_string_length(a->j) + json_string_length(b->j) > JINJA_MAX_OUTPUT) {
                        r->too_big = true;
                        return -EFBIG;
                }
                if (strbuf_append(&s, json_string_value(a->j), json_string_length(a->j)) < 0 ||
                    strbuf_append(&s, json_string_value(b->j), json_string_length(b->j)) < 0)
                        return -ENOMEM;
                ret->j = json_stringn(s.data ? s.data : "", s.len);
                return ret->j ? 0 : -ENOMEM;
        }
        if (!is_number(a->j) || !is_number(b->j)) {
                render_fail(r, e, 0, 0, "unsupported operand type(s) for %s: '%s' and '%s'",
                            e->type == E_ADD ? "+" : "-", type_name(a->j), type_name(b->j));
                return -EINVAL;
        }
        if (json_is_real(a->j) || json_is_real(b->j)) {
                double x = number_value(a->j), y = number_value(b->j);
                ret->j = json_real(e->type == E_ADD ? x + y : x - y);
        } else {
                /* ints and bools: never through a double (2**63 does not fit back) */
                long long x = json_is_integer(a->j) ? json_integer_value(a->j) : json_is_true(a->j);
                long long y = json_is_integer(b->j) ? json_integer_value(b->j) : json_is_true(b->j), z;
                if (e->type == E_ADD ? __builtin_add_overflow(x, y, &z) : __builtin_sub_overflow(x, y, &z)) {
                        render_fail(r, e, 0, 0, "integer overflow");
                        return -EINVAL;
                }
                ret->j = json_integer(z);
        }
        return ret->j ? 0 : -ENOMEM;
}

static int eval(struct renderer *r, const struct expr *e, struct val *ret, unsigned depth) {
        struct val a = {}, b = {};
        int k = 0;

        *ret = (struct val){};
        if (depth > 4 * MAX_DEPTH) {
                render_fail(r, e, 0, 0, "expression nested too deep");
                return -EINVAL;
        }
        if (++r->steps > MAX_STEPS) {
                render_fail(r, e, 0, 0, "too much work rendering (more than %d steps)", MAX_STEPS);
                return -EINVAL;
        }
        switch (e->type) {
        case E_LITERAL: ret->j = json_incref(e->literal); break;
        case E_NAME: k = lookup(r, e->name, ret); break;
        case E_ATTR:
                k = eval(r, e->a, &a, depth + 1);
                if (k >= 0 && e->b)
                        k = eval(r, e->b, &b, depth + 1);
                else if (k >= 0)
                        k = (b.j = json_string(e->name)) ? 0 : -ENOMEM;
                if (k >= 0)
                        k = getattr(r, e, &a, &b, ret);
                break;
        case E_CALL:
                k = eval(r, e->a, &a, depth + 1);
                if (k >= 0)
                        k = call_method(r, e, &a, ret);
                break;
        case E_NOT:
                k = eval(r, e->a, &a, depth + 1);
                if (k >= 0)
                        ret->j = json_boolean(!truthy(&a));
                break;
        case E_AND:
        case E_OR:
                /* Python's and/or give an operand, not a bool */
                k = eval(r, e->a, &a, depth + 1);
                if (k >= 0 && truthy(&a) == (e->type == E_OR))
                        *ret = a, a = (struct val){};
                else if (k >= 0)
                        k = eval(r, e->b, ret, depth + 1);
                break;
        case E_CMP: {
                /* a chain: (x < y) < z is x < y and y < z */
                bool yes = true;
                const struct expr *c = e;
                if (e->a->type == E_CMP && !e->a->paren) {
                        k = eval(r, e->a, &a, depth + 1);
                        if (k >= 0 && !truthy(&a)) {
                                ret->j = json_false();
                                break;
                        }
                        val_done(&a);
                        k = k < 0 ? k : eval(r, e->a->b, &a, depth + 1);
                } else
                        k = eval(r, e->a, &a, depth + 1);
                if (k >= 0)
                        k = eval(r, e->b, &b, depth + 1);
                if (k >= 0)
                        k = compare(r, c, &a, &b, &yes);
                if (k >= 0)
                        ret->j = json_boolean(yes);
                break;
        }
        case E_CONCAT: {
                _cleanup_json_ json_t *x = NULL, *y = NULL;
                k = eval(r, e->a, &a, depth + 1);
                if (k >= 0)
                        k = eval(r, e->b, &b, depth + 1);
                if (k >= 0)
                        k = to_string(r, &a, &x);
                if (k >= 0)
                        k = to_string(r, &b, &y);
                if (k >= 0) {
                        struct val sx = {.j = x}, sy = {.j = y};
                        struct expr add = *e;
                        add.type = E_ADD;
                        k = arith(r, &add, &sx, &sy, ret);
                }
                break;
        }
        case E_ADD:
        case E_SUB:
                k = eval(r, e->a, &a, depth + 1);
                if (k >= 0)
                        k = eval(r, e->b, &b, depth + 1);
                if (k >= 0)
                        k = arith(r, e, &a, &b, ret);
                break;
        case E_NEG:
                k = eval(r, e->a, &b, depth + 1);
                if (k >= 0) {
                        struct expr sub = *e;
                        sub.type = E_SUB;
                        a.j = json_integer(0);
                        k = a.j ? arith(r, &sub, &a, &b, ret) : -ENOMEM;
                }
                break;
        case E_FILTER:
                k = eval(r, e->a, &a, depth + 1);
                if (k >= 0)
                        k = apply_filter(r, e, &a, ret, depth);
                break;
        case E_TEST:
                k = eval(r, e->a, &a, depth + 1);
                if (k >= 0)
                        k = apply_test(r, e, &a, ret);
                break;
        case E_LIST:
                ret->j = json_array();
                k = ret->j ? 0 : -ENOMEM;
                for (size_t i = 0; k >= 0 && i < e->n_args; i++) {
                        struct val item = {};
                        k = eval(r, e->args[i], &item, depth + 1);
                        if (k >= 0 && !item.j) {
                                render_fail(r, e->args[i], 0, 0, "'%s' is undefined", item.undef);
                                k = -EINVAL;
                        }
                        if (k >= 0)
                                k = json_array_append(ret->j, item.j) < 0 ? -ENOMEM : 0;
                        val_done(&item);
                }
                break;
        case E_COND:
                k = eval(r, e->b, &a, depth + 1);
                if (k >= 0 && truthy(&a))
                        k = eval(r, e->a, ret, depth + 1);
                else if (k >= 0 && e->c)
                        k = eval(r, e->c, ret, depth + 1);
                else if (k >= 0) /* jinja's Undefined without a name */
                        k = (ret->undef = strdup("None")) ? 0 : -ENOMEM;
                break;
        }
        val_done(&a);
        val_done(&b);
        if (k < 0)
                val_done(ret);
        if (k == -ENOMEM)
                render_fail(r, e, 0, 0, "out of memory");
        return k;
}

static int emit(struct renderer *r, const char *s, size_t n) {
        if (r->out.len + n > JINJA_MAX_OUTPUT) {
                r->too_big = true;
                return -EFBIG;
        }
        return strbuf_append(&r->out, s, n);
}

static int render_nodes(struct renderer *r, const struct nodes *ns, unsigned depth);

static int render_for(struct renderer *r, const struct node *n, unsigned depth) {
        _cleanup_json_ json_t *items = NULL;
        struct val it = {};
        size_t count;
        int k;

        k = eval(r, n->expr, &it, 0);
        if (k < 0)
                return k;
        if (!it.j)
                items = json_array(); /* iterating Undefined gives nothing */
        else if (json_is_array(it.j))
                items = json_incref(it.j);
        else if (json_is_object(it.j)) {
                const char *key;
                json_t *v;
                items = json_array();
                json_object_foreach(it.j, key, v)
                        if (items && json_array_append_new(items, json_string(key)) < 0) {
                                json_decref(items);
                                items = NULL;
                        }
        } else if (json_is_string(it.j)) {
                items = json_array();
                for (size_t i = 0; items && i < json_string_length(it.j); i++)
                        if (json_array_append_new(items, json_stringn(json_string_value(it.j) + i, 1)) < 0) {
                                json_decref(items);
                                items = NULL;
                        }
        } else {
                render_fail(r, NULL, n->line, n->col, "'%s' object is not iterable", type_name(it.j));
                val_done(&it);
                return -EINVAL;
        }
        val_done(&it);
        if (!items)
                return -ENOMEM;
        if (r->n_scope + 3 > MAX_SCOPE) {
                render_fail(r, NULL, n->line, n->col, "loops nested too deep");
                return -EINVAL;
        }
        count = json_array_size(items);
        for (size_t i = 0; i < count; i++) {
                json_t *item = json_array_get(items, i);
                _cleanup_json_ json_t *loop = json_pack(
                        "{sIsIsbsbsIsI}", "index", (json_int_t) i + 1, "index0", (json_int_t) i, "first", i == 0,
                        "last", i + 1 == count, "length", (json_int_t) count, "revindex", (json_int_t) (count - i));
                size_t saved = r->n_scope;
                if (!loop)
                        return -ENOMEM;
                if (++r->steps > MAX_STEPS) {
                        render_fail(r, NULL, n->line, n->col, "too much work rendering (more than %d steps)",
                                    MAX_STEPS);
                        return -EINVAL;
                }
                if (n->var2) {
                        if (!json_is_array(item) || json_array_size(item) != 2) {
                                render_fail(r, NULL, n->line, n->col,
                                            "cannot unpack %s into '%s, %s' (it needs two items)", type_name(item),
                                            n->var1, n->var2);
                                return -EINVAL;
                        }
                        r->scope[r->n_scope++] = (struct binding){n->var1, json_array_get(item, 0)};
                        r->scope[r->n_scope++] = (struct binding){n->var2, json_array_get(item, 1)};
                } else
                        r->scope[r->n_scope++] = (struct binding){n->var1, item};
                r->scope[r->n_scope++] = (struct binding){"loop", loop};
                k = render_nodes(r, &n->body, depth + 1);
                r->n_scope = saved;
                if (k < 0)
                        return k;
        }
        return count == 0 ? render_nodes(r, &n->else_body, depth + 1) : 0;
}

static int render_nodes(struct renderer *r, const struct nodes *ns, unsigned depth) {
        int k = 0;

        if (depth > MAX_DEPTH + 1) {
                render_fail(r, NULL, 1, 1, "blocks nested too deep");
                return -EINVAL;
        }
        for (size_t i = 0; k >= 0 && i < ns->n; i++) {
                const struct node *n = &ns->v[i];
                switch (n->type) {
                case N_TEXT: k = emit(r, n->text, n->text_len); break;
                case N_OUTPUT: {
                        struct val v = {};
                        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
                        k = eval(r, n->expr, &v, 0);
                        if (k >= 0)
                                k = format_value(r, &b, &v, false, 0);
                        if (k >= 0)
                                k = emit(r, b.data ? b.data : "", b.len);
                        val_done(&v);
                        break;
                }
                case N_IF:
                        for (size_t j = 0; k >= 0 && j < n->n_branches; j++) {
                                struct val c = {};
                                bool take = true;
                                if (n->branches[j].cond) {
                                        k = eval(r, n->branches[j].cond, &c, 0);
                                        take = k >= 0 && truthy(&c);
                                        val_done(&c);
                                }
                                if (k >= 0 && take) {
                                        k = render_nodes(r, &n->branches[j].body, depth + 1);
                                        break;
                                }
                        }
                        break;
                case N_FOR: k = render_for(r, n, depth); break;
                }
        }
        if (k == -ENOMEM)
                render_fail(r, NULL, 1, 1, "out of memory");
        return k;
}

int jinja_render(const char *tmpl, size_t len, const json_t *vars, char **ret, size_t *ret_len, char ***ret_missing,
                 char **ret_error) {
        _cleanup_free_ char *src = NULL;
        struct parser p = {.line = 1, .col = 1};
        struct renderer r = {.vars = vars, .out = STRBUF_INIT};
        struct nodes tree = {};
        bool trailing_newline = len > 0 && tmpl[len - 1] == '\n';
        size_t n = 0;
        int k;

        *ret_error = NULL;
        *ret_missing = NULL;
        if (len > JINJA_MAX_INPUT)
                return -EFBIG;
        /* jinja reads every newline as "\n" and drops one at the end;
         * cloud-init puts it back when the template ended with one */
        src = malloc(len + 1);
        if (!src)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                if (tmpl[i] == '\r') {
                        src[n++] = '\n';
                        if (i + 1 < len && tmpl[i + 1] == '\n')
                                i++;
                } else
                        src[n++] = tmpl[i];
        }
        if (n > 0 && src[n - 1] == '\n')
                n--;
        src[n] = 0;
        p.src = src;
        p.len = n;

        k = parse_body(&p, &tree, NULL, NULL, 0, NULL);
        if (k < 0 || p.error) {
                nodes_free(&tree);
                if (!p.error)
                        return k == -ENOMEM ? k : -EINVAL;
                *ret_error = p.error;
                return -EINVAL;
        }
        k = render_nodes(&r, &tree, 0);
        if (k >= 0 && trailing_newline)
                k = emit(&r, "\n", 1);
        nodes_free(&tree);
        if (k < 0) {
                strbuf_done(&r.out);
                strv_free(r.missing);
                if (r.too_big || k == -EFBIG) {
                        free(r.error);
                        return -EFBIG;
                }
                if (!r.error)
                        return k == -ENOMEM ? k : -EINVAL;
                *ret_error = r.error;
                return -EINVAL;
        }
        free(r.error);
        *ret_len = r.out.len;
        *ret = r.out.data ? strbuf_steal(&r.out) : strdup("");
        if (!*ret) {
                strv_free(r.missing);
                return -ENOMEM;
        }
        *ret_missing = r.missing;
        return 0;
}

int jinja_header_len(const char *data, size_t len, size_t *ret_len) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t) (nl - data) : len, i = 2, e;

        /* cloud-init's TYPE_MATCHER "##\s*template:(.*)" on the first line,
         * the rest stripped and lowercased must be "jinja" */
        if (n < 2 || data[0] != '#' || data[1] != '#')
                return -EINVAL;
        while (i < n && isspace((unsigned char) data[i]))
                i++;
        if (n - i < 9 || strncasecmp(data + i, "template:", 9) != 0)
                return -EINVAL;
        i += 9;
        while (i < n && isspace((unsigned char) data[i]))
                i++;
        e = n;
        while (e > i && isspace((unsigned char) data[e - 1]))
                e--;
        if (e - i != 5 || strncasecmp(data + i, "jinja", 5) != 0)
                return -EINVAL;
        *ret_len = nl ? n + 1 : n;
        return 0;
}
