/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "chase.h"
#include "console.h"
#include "fileio.h"
#include "module.h"
#include "openssl.h"
#include "path.h"
#include "state.h"
#include "strbuf.h"
#include "system/system.h"

/* The fingerprints of each user's authorized keys on the console, once per
 * instance, as cloud-init 22.4's ssh_authkey_fingerprints module writes
 * them: for each user of the users list (the default user included) that
 * is neither a system user nor without a home, a table of its
 * ~/.ssh/authorized_keys entries (key type, fingerprint as colon-separated
 * hex of the authkey_hash digest of the decoded key, options, comment),
 * every line prefixed "ci-info: ". no_ssh_fingerprints turns it off. */

#define MARKER "ssh_authkey_fingerprints"
#define AUTHORIZED_KEYS_MAX (1024 * 1024)
#define PREFIX "ci-info: "
#define BLANKS " \t\n\r\v\f\x1c\x1d\x1e\x1f"

/* cloud-init's ssh_util.VALID_KEY_TYPES. */
static bool valid_key_type(const char *t, size_t n) {
        static const char *const types[] = {
                "dsa",
                "rsa",
                "ecdsa",
                "ed25519",
                "ecdsa-sha2-nistp256-cert-v01@openssh.com",
                "ecdsa-sha2-nistp256",
                "ecdsa-sha2-nistp384-cert-v01@openssh.com",
                "ecdsa-sha2-nistp384",
                "ecdsa-sha2-nistp521-cert-v01@openssh.com",
                "ecdsa-sha2-nistp521",
                "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
                "sk-ecdsa-sha2-nistp256@openssh.com",
                "sk-ssh-ed25519-cert-v01@openssh.com",
                "sk-ssh-ed25519@openssh.com",
                "ssh-dss-cert-v01@openssh.com",
                "ssh-dss",
                "ssh-ed25519-cert-v01@openssh.com",
                "ssh-ed25519",
                "ssh-rsa-cert-v01@openssh.com",
                "ssh-rsa",
                "ssh-xmss-cert-v01@openssh.com",
                "ssh-xmss@openssh.com",
        };
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (strlen(types[i]) == n && strneq(t, types[i], n))
                        return true;
        return false;
}

struct entry {
        char *type, *base64, *comment, *options;
};

static void entry_done(struct entry *e) {
        free(e->type);
        free(e->base64);
        free(e->comment);
        free(e->options);
        *e = (struct entry){};
}

/* "type base64 [comment]" (s stripped); false when not one. */
static bool split_key(const char *s, struct entry *e) {
        size_t tn = strcspn(s, BLANKS), bn;
        const char *b = s + tn;

        if (!valid_key_type(s, tn))
                return false;
        b += strspn(b, BLANKS);
        bn = strcspn(b, BLANKS);
        if (bn == 0)
                return false;
        e->type = strndup(s, tn);
        e->base64 = strndup(b, bn);
        b += bn;
        b += strspn(b, BLANKS);
        e->comment = strdup(b);
        return true;
}

/* As cloud-init's AuthKeyLineParser: the whole line a key, else options up
 * to the first blank outside quotes, then a key. false: no key. */
static bool parse_line(const char *line, struct entry *e) {
        _cleanup_free_ char *ent = NULL;
        const char *s = line + strspn(line, BLANKS);
        size_t n = strlen(s), i = 0;
        bool quoted = false;

        *e = (struct entry){};
        if (*line == '#')
                return false;
        while (n > 0 && strchr(BLANKS, s[n - 1]))
                n--;
        if (n == 0 || !(ent = strndup(s, n)))
                return false;
        if (split_key(ent, e))
                return true;
        while (i < n && (quoted || (ent[i] != ' ' && ent[i] != '\t'))) {
                if (i + 1 >= n) {
                        i++;
                        break;
                }
                if (ent[i] == '\\' && ent[i + 1] == '"')
                        i++;
                else if (ent[i] == '"')
                        quoted = !quoted;
                i++;
        }
        if (!split_key(ent + i + strspn(ent + i, BLANKS), e)) {
                entry_done(e);
                return false;
        }
        e->options = strndup(ent, i);
        return true;
}

/* Python's hashlib.new(name) for the names OpenSSL also knows; NULL when
 * unknown (cloud-init prints "?"). */
static const EVP_MD *digest_by_name(const char *name) {
        _cleanup_free_ char *n = strdup(name);

        if (!n || openssl_load(false, NULL) < 0)
                return NULL;
        if (strncasecmp(n, "shake", 5) == 0)
                return NULL; /* hexdigest() needs a length: cloud-init's "?" */
        if ((strcasecmp(n, "blake2b") == 0))
                return EVP_get_digestbyname("BLAKE2B-512");
        if ((strcasecmp(n, "blake2s") == 0))
                return EVP_get_digestbyname("BLAKE2S-256");
        for (char *p = n; *p; p++)
                if (*p == '_')
                        *p = '-';
        return EVP_get_digestbyname(n);
}

static char *fingerprint(const char *b64, const char *hash) {
        _cleanup_free_ char *raw = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        const EVP_MD *m;
        size_t len;

        if (!*b64)
                return strdup("-");
        if (base64_decode_python(b64, strlen(b64), false, &raw, &len) < 0 || !(m = digest_by_name(hash)) ||
            !EVP_Digest(raw, len, md, &mdlen, m, NULL) || mdlen == 0)
                return strdup("?");
        for (unsigned i = 0; i < mdlen; i++)
                (void) strbuf_printf(&b, "%s%02x", i ? ":" : "", md[i]);
        return strbuf_steal(&b);
}

/* Python's len(): code points of UTF-8 text. */
static size_t pylen(const char *s) {
        size_t n = 0;
        for (; *s; s++)
                n += ((unsigned char) *s & 0xc0) != 0x80;
        return n;
}

static int pad(struct strbuf *b, char c, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (strbuf_printf(b, "%c", c) < 0)
                        return -ENOMEM;
        return 0;
}

/* Python's str.center(width): the odd space goes left when width is odd. */
static int center_py(struct strbuf *b, const char *s, size_t width) {
        size_t len = pylen(s), marg = width > len ? width - len : 0, left = marg / 2 + (marg & width & 1);

        if (pad(b, ' ', left) < 0 || strbuf_puts(b, s) < 0 || pad(b, ' ', marg - left) < 0)
                return -ENOMEM;
        return 0;
}

#define COLUMNS 4

static int hdiv(struct strbuf *b, const size_t *w) {
        if (strbuf_puts(b, PREFIX "+") < 0)
                return -ENOMEM;
        for (size_t i = 0; i < COLUMNS; i++)
                if (pad(b, '-', w[i] + 2) < 0 || strbuf_puts(b, "+") < 0)
                        return -ENOMEM;
        return strbuf_puts(b, "\n") < 0 ? -ENOMEM : 0;
}

static int row(struct strbuf *b, char *const *cols, const size_t *w) {
        if (strbuf_puts(b, PREFIX "|") < 0)
                return -ENOMEM;
        for (size_t i = 0; i < COLUMNS; i++)
                if (center_py(b, cols[i], w[i] + 2) < 0 || strbuf_puts(b, "|") < 0)
                        return -ENOMEM;
        return strbuf_puts(b, "\n") < 0 ? -ENOMEM : 0;
}

/* The console text for user's keys file (its text, NULL when absent). */
int system_authkey_fingerprints_text(const char *user, const char *key_fn, const char *text, const char *hash,
                                     char **ret) {
        _cleanup_strbuf_ struct strbuf b = STRBUF_INIT;
        _cleanup_free_ char *title = NULL, *fp_head = strdup_printf("Fingerprint (%s)", hash);
        char *head[COLUMNS] = {(char *) "Keytype", fp_head, (char *) "Options", (char *) "Comment"};
        char **cells = NULL; /* COLUMNS per row */
        size_t w[COLUMNS], n_rows = 0, n_lines = 0, width, tlen;
        int r = -ENOMEM;

        if (!fp_head)
                return -ENOMEM;
        for (size_t i = 0; i < COLUMNS; i++)
                w[i] = pylen(head[i]);
        /* str.splitlines() */
        for (const char *l = text; l && *l;) {
                size_t n = strcspn(l, "\n\r\v\f\x1c\x1d\x1e");
                _cleanup_free_ char *line = strndup(l, n);
                struct entry e;
                char **c;

                l += n;
                l += (l[0] == '\r' && l[1] == '\n') ? 2 : !!*l;
                if (!line)
                        goto out;
                n_lines++;
                if (!parse_line(line, &e))
                        continue;
                c = realloc(cells, (n_rows + 1) * COLUMNS * sizeof(char *));
                if (!c) {
                        entry_done(&e);
                        goto out;
                }
                cells = c;
                c += n_rows * COLUMNS;
                c[0] = e.type;
                c[1] = fingerprint(e.base64, hash);
                c[2] = e.options && *e.options ? e.options : strdup("-");
                c[3] = e.comment && *e.comment ? e.comment : strdup("-");
                if (c[2] != e.options)
                        free(e.options);
                if (c[3] != e.comment)
                        free(e.comment);
                free(e.base64);
                n_rows++;
                for (size_t i = 0; i < COLUMNS; i++) {
                        if (!c[i]) {
                                for (size_t j = i + 1; j < COLUMNS; j++)
                                        free(c[j]);
                                n_rows--;
                                while (i-- > 0)
                                        free(c[i]);
                                goto out;
                        }
                        if (pylen(c[i]) > w[i])
                                w[i] = pylen(c[i]);
                }
        }
        if (n_lines == 0) {
                if (strbuf_printf(&b, PREFIX "no authorized SSH keys fingerprints found for user %s.\n", user) < 0)
                        goto out;
        } else {
                width = 1;
                for (size_t i = 0; i < COLUMNS; i++)
                        width += w[i] + 3;
                title = strdup_printf("Authorized keys from %s for user %s", key_fn, user);
                if (!title)
                        goto out;
                tlen = pylen(title);
                /* format(title, "+^width"): the odd fill goes right */
                if (strbuf_puts(&b, PREFIX) < 0 || pad(&b, '+', width > tlen ? (width - tlen) / 2 : 0) < 0 ||
                    strbuf_puts(&b, title) < 0 ||
                    pad(&b, '+', width > tlen ? width - tlen - (width - tlen) / 2 : 0) < 0 || strbuf_puts(&b, "\n") < 0)
                        goto out;
                if (hdiv(&b, w) < 0 || row(&b, head, w) < 0 || hdiv(&b, w) < 0)
                        goto out;
                for (size_t i = 0; i < n_rows; i++)
                        if (row(&b, cells + i * COLUMNS, w) < 0)
                                goto out;
                if (hdiv(&b, w) < 0)
                        goto out;
        }
        *ret = strbuf_steal(&b);
        r = *ret ? 0 : -ENOMEM;
out:
        for (size_t i = 0; i < n_rows * COLUMNS; i++)
                free(cells[i]);
        free(cells);
        return r;
}

/* util.get_cfg_option_str: str() of what is given. */
static char *hash_name(const json_t *v) {
        if (!v || json_is_null(v))
                return strdup("sha256");
        if (json_is_string(v))
                return strdup(json_string_value(v));
        if (json_is_true(v))
                return strdup("True");
        if (json_is_false(v))
                return strdup("False");
        if (json_is_integer(v))
                return strdup_printf("%lld", (long long) json_integer_value(v));
        return strdup("?");
}

/* util.is_true */
bool system_is_true(const json_t *v) {
        char buf[8];
        size_t n = 0;
        const char *s;

        if (json_is_boolean(v))
                return json_is_true(v);
        if (json_is_integer(v))
                return json_integer_value(v) == 1;
        if (!json_is_string(v))
                return false;
        s = json_string_value(v);
        s += strspn(s, BLANKS);
        for (; *s && n < sizeof(buf) - 1; s++)
                buf[n++] = *s;
        while (n > 0 && strchr(BLANKS, buf[n - 1]))
                n--;
        buf[n] = 0;
        if (*s && !strchr(BLANKS, *s))
                return false;
        return (strcasecmp(buf, "true") == 0) || (strcasecmp(buf, "1") == 0) || (strcasecmp(buf, "on") == 0) ||
               (strcasecmp(buf, "yes") == 0);
}

int system_authkey_fingerprints(struct kiln_context *ctx, const json_t *config, const json_t *users) {
        _cleanup_free_ char *hash = NULL;
        const json_t *u;
        size_t i;
        int r;

        if (system_is_true(json_object_get(config, "no_ssh_fingerprints")))
                return 0;
        r = state_should_run(ctx, FREQ_INSTANCE, MARKER);
        if (r <= 0)
                return 0; /* once per instance; an unknown instance prints nothing */
        if (!(hash = hash_name(json_object_get(config, "authkey_hash"))))
                return -ENOMEM;
        json_array_foreach(users, i, u) {
                _cleanup_free_ char *home = NULL, *key_fn = NULL, *path = NULL, *text = NULL, *out = NULL;
                const char *name = json_string_value(json_object_get(u, "name"));

                if (!name || json_is_true(json_object_get(u, "system")) ||
                    json_is_true(json_object_get(u, "no_create_home")))
                        continue;
                if (system_colon_field("/etc/passwd", name, 5, &home) < 0)
                        continue; /* no such user: nothing to show */
                key_fn = strdup_printf("%s/.ssh/authorized_keys", streq(home, "/") ? "" : home);
                if (!key_fn || root_path(&path, "%s", key_fn) < 0)
                        return -ENOMEM;
                /* The user owns the home: a link or a FIFO planted there is not
                 * followed or opened (agent/chase.h); then, as when cloud-init
                 * cannot read the file, no keys. */
                r = chase_read_file(path, AUTHORIZED_KEYS_MAX, &text, NULL);
                if (r < 0)
                        text = NULL; /* not set on failure */
                if (system_authkey_fingerprints_text(name, key_fn, text, hash, &out) < 0)
                        return -ENOMEM;
                (void) console_write(out);
        }
        r = state_mark_done(ctx, FREQ_INSTANCE, MARKER);
        return r < 0 ? kiln_fail(ctx, r, "Failed to record that the key fingerprints were shown: %s", strerror(-r)) : 0;
}
