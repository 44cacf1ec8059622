/* SPDX-License-Identifier: MIT */
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "config.h"
#include "fileio.h"
#include "path.h"
#include "strbuf.h"
#include "system/system.h"
#include "tap.h"
#include "userdata/jinja.h"
#include "userdata/mime.h"
#include "userdata/userdata.h"
#include "yaml-json.h"

static void test_base64(void) {
        char *out = NULL;
        size_t len = 0;

        ok(base64_decode("aGVs\nbG8=", 9, &out, &len) == 0 && len == 5 && memcmp(out, "hello", 5) == 0,
           "base64 with a line break and padding");
        free(out);
        ok(base64_decode("aGVsbG8=x", 9, &out, &len) < 0, "data after padding is refused");
        ok(base64_decode("a!==", 4, &out, &len) < 0, "a stray character is refused");
        ok(base64_decode("a", 1, &out, &len) < 0, "a lone character is refused");
}

/* base64_decode_python() against Python 3.11 itself: each expected value
 * was printed by base64.b64decode(s) (write_files' b64, cloud-init) and by
 * email's decode_b() (a base64 MIME part); NULL where Python raises. */
static void test_base64_python(void) {
        static const struct {
                const char *in;
                size_t len;
                const char *b64decode;
                size_t b64decode_len;
                const char *mime;
                size_t mime_len;
        } cases[] = {
                {"aGVsbG8=", 8, "hello", 5, "hello", 5},
                {"aGVsbG8", 7, NULL, 0, "hello", 5},
                {"aGVsbG8==", 9, "hello", 5, "hello", 5},
                {"aGVsbG8===", 10, "hello", 5, "hello", 5},
                {"aGVsbG8=x", 9, "hello", 5, "hello", 5},
                {"aGVs bG8=", 9, "hello", 5, "hello", 5},
                {"a!GVsbG8=", 9, "hello", 5, "hello", 5},
                {"aGVsbA==aGVsbG8=", 16, "hell", 4, "hell", 4},
                {"aGVsbA=", 7, NULL, 0, "hell", 4},
                {"aGVsbA", 6, NULL, 0, "hell", 4},
                {"a", 1, NULL, 0, NULL, 0},
                {"ab", 2, NULL, 0, "i", 1},
                {"abc", 3, NULL, 0, "i\267", 2},
                {"abcd", 4, "i\267\035", 3, "i\267\035", 3},
                {"ab==cd", 6, "i", 1, "i", 1},
                {"ab=cd", 5, "i\267\035", 3, "i\267\035", 3},
                {"=abcd", 5, "i\267\035", 3, "i\267\035", 3},
                {"ab=c=", 5, "i\267", 2, "i\267", 2},
                {"a===", 4, NULL, 0, NULL, 0},
                {"ab=", 3, NULL, 0, "i", 1},
                {"abc=", 4, "i\267", 2, "i\267", 2},
                {"abc==", 5, "i\267", 2, "i\267", 2},
                {"abcde", 5, NULL, 0, NULL, 0},
                {"abcdef", 6, NULL, 0, "i\267\035y", 4},
                {"abcdefg", 7, NULL, 0, "i\267\035y\370", 5},
                {"-_aa", 4, NULL, 0, "i", 1},
                {"aGVs\012bG8=\012", 10, "hello", 5, "hello", 5},
                {"ab==\012\012", 6, "i", 1, "i", 1},
                {"aGVsbG8=aGVs", 12, "hello", 5, "hello", 5},
                {"ab=!=", 5, "i", 1, "i", 1},
                {"ab=\012=", 5, "i", 1, "i", 1},
                {"YQ==YQ==", 8, "a", 1, "a", 1},
                {"", 0, "", 0, "", 0},
                {"====", 4, "", 0, "", 0},
                {"a=b=c=d", 7, "i\267", 2, "i\267", 2},
                {"abc=d", 5, "i\267", 2, "i\267", 2},
                {"a=b", 3, NULL, 0, "i", 1},
                {"a\303\251bcd", 6, NULL, 0, "i\267\035", 3},
                {"ab\000cd", 5, "i\267\035", 3, "i\267\035", 3},
                {"\0121", 2, NULL, 0, NULL, 0},
                {"9+C +", 5, "\367\340\276", 3, "\367\340\276", 3},
                {"--a91/=9", 8, NULL, 0, NULL, 0},
                {"\012bc9cA", 6, NULL, 0, NULL, 0},
                {"Ca/AC90-- a", 11, "\011\257\300\013\335\032", 6, "\011\257\300\013\335\032", 6},
                {"a=ca!\01209 0!", 11, NULL, 0, "i\306\264\367", 4},
                {"\0129aaC", 5, "\365\246\202", 3, "\365\246\202", 3},
                {"9aAc_", 5, "\365\240\034", 3, "\365\240\034", 3},
                {"\012C", 2, NULL, 0, NULL, 0},
                {"!c- +! ", 7, NULL, 0, "s", 1},
                {"_a9!-1 ", 7, NULL, 0, "k\335", 2},
                {"!Cb!9 A-_A", 10, NULL, 0, NULL, 0},
                {"=!9=+\012", 6, NULL, 0, "\367", 1},
                {"B!9a", 4, NULL, 0, "\007\326", 2},
                {"aB0+AA\012", 7, NULL, 0, "h\035>\000", 4},
                {"\012=9aB", 5, NULL, 0, "\365\240", 2},
                {"0A1", 3, NULL, 0, "\320\015", 2},
                {"\0129c10", 5, "\365\315t", 3, "\365\315t", 3},
                {"/+=Bc\0120=!-", 10, NULL, 0, NULL, 0},
                {"-/!B", 4, NULL, 0, "\374", 1},
                {"_!/C", 4, NULL, 0, "\374", 1},
                {"ab0Bb", 5, NULL, 0, NULL, 0},
                {"9! b", 4, NULL, 0, "\365", 1},
                {"-Ba9=__b ", 9, "\005\257", 2, "\005\257", 2},
                {"Cbcb", 4, "\011\267\033", 3, "\011\267\033", 3},
                {"1", 1, NULL, 0, NULL, 0},
                {"=B_ 9!/C=Ba", 11, NULL, 0, "\007\337\302\005", 4},
                {"_a", 2, NULL, 0, NULL, 0},
                {"c", 1, NULL, 0, NULL, 0},
                {"A+", 2, NULL, 0, "\003", 1},
                {"b", 1, NULL, 0, NULL, 0},
                {"bA  !\012A", 7, NULL, 0, "l\000", 2},
                {"C91+\012", 5, "\013\335~", 3, "\013\335~", 3},
                {"1", 1, NULL, 0, NULL, 0},
                {"A=aa-- +=/A9", 12, NULL, 0, "\001\246\276\374\017", 5},
                {"++0", 3, NULL, 0, "\373\355", 2},
                {" AC /-_9_", 9, "\000/\375", 3, "\000/\375", 3},
                {"A-!1", 4, NULL, 0, "\003", 1},
                {"\012a1109C", 7, NULL, 0, "k]t\364", 4},
                {"C BA", 4, NULL, 0, "\010\020", 2},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                for (int mime = 0; mime <= 1; mime++) {
                        const char *want = mime ? cases[i].mime : cases[i].b64decode;
                        size_t want_len = mime ? cases[i].mime_len : cases[i].b64decode_len;
                        char *out = NULL;
                        size_t len = 0;
                        int r = base64_decode_python(cases[i].in, cases[i].len, mime, &out, &len);
                        ok(want ? r == 0 && len == want_len && memcmp(out, want, len) == 0 : r < 0,
                           "%s of case %zu as Python decodes it (r=%d, %zu bytes)", mime ? "MIME" : "b64decode", i, r,
                           len);
                        free(out);
                }
        }
}

/* write_files b64 content and base64 MIME parts decode as cloud-init's
 * Python does. */
static void test_base64_users(void) {
        static const char msg[] = "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\n"
                                  "Content-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\n"
                                  "IyEvYmluL3NoCmVjaG8gaGk\n--b--\n";
        const char *err = NULL;
        struct mime_message m = {0};
        char *out = NULL, *e = NULL;
        size_t len = 0;

        ok(system_decode_content("aGVs bG8h\n-_!", 13, "b64", &out, &len, &err) == 0 && len == 6 &&
                   memcmp(out, "hello!", 6) == 0,
           "write_files b64: characters outside the alphabet are skipped, as by b64decode()");
        free(out);
        out = NULL;
        ok(system_decode_content("aGVsbG8", 7, "b64", &out, &len, &err) < 0,
           "write_files b64: missing padding is refused, as by b64decode()");
        ok(system_decode_content("aGVsbG8=\ntrailing", 17, "base64", &out, &len, &err) == 0 && len == 5,
           "write_files b64: what follows the padding is ignored, as by b64decode()");
        free(out);
        ok(mime_split(msg, strlen(msg), &m, &e) == 0 && m.n_parts == 1 && !m.parts[0].error &&
                   streq(m.parts[0].body, "#!/bin/sh\necho hi"),
           "a base64 MIME part without its padding decodes, as Python's email parser decodes it");
        mime_message_done(&m);
}

static void test_mime(void) {
        static const char msg[] =
                "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
                "MIME-Version: 1.0\r\n\r\npreamble\r\n"
                "--b\r\nContent-Type: text/x-shellscript; charset=us-ascii\r\n"
                "Content-Disposition: attachment;\r\n filename=\"a.sh\"\r\n\r\n#!/bin/sh\r\necho a\r\n"
                "--b\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
                "--inner\r\nContent-Type: TEXT/Cloud-Config\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                "I2Nsb3VkLWNvbmZpZwo=\r\n--inner--\r\n"
                "--b--\r\nepilogue\r\n";
        struct mime_message m = {0};
        char *err = NULL;

        ok(mime_split(msg, strlen(msg), &m, &err) == 0, "a CRLF multipart with a nested multipart splits");
        is_int(m.n_parts, 2, "two leaf parts");
        is_str(m.parts[0].type, "text/x-shellscript", "type without parameters");
        is_str(m.parts[0].filename, "a.sh", "folded Content-Disposition gives the filename");
        is_str(m.parts[0].body, "#!/bin/sh\r\necho a", "the line break before the boundary is not the body's");
        ok(m.parts[0].verbatim && m.parts[0].line == 9, "verbatim body starts on line 10 (got %zu)", m.parts[0].line);
        is_str(m.parts[1].type, "text/cloud-config", "types are lowercased");
        is_str(m.parts[1].body, "#cloud-config\n", "base64 part decoded");
        ok(!m.parts[1].verbatim, "a decoded part is not verbatim");
        ok(m.warnings == NULL, "no warnings for a well-formed message");
        mime_message_done(&m);

        ok(mime_split("Content-Type: multipart/mixed\n\nx\n", 30, &m, &err) < 0 && err && strstr(err, "boundary"),
           "multipart without a boundary is an error: %s", err ? err : "");
        free(err);
        err = NULL;
        ok(mime_split("Content-Type: multipart/mixed; boundary=q\n\n--q\n\nbody\n", 49, &m, &err) == 0 &&
                   m.n_parts == 1 && m.warnings,
           "a missing closing boundary keeps the part, with a warning");
        mime_message_done(&m);
}

/* Headers not followed by an empty line, read as Python's email parser
 * (cloud-init) reads them: the body starts at the first line that cannot
 * be a header. Each expectation was checked with python3's
 * email.message_from_string(). */
static void test_mime_no_separator(void) {
        static const char msg[] =
                "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n"
                "--b\nContent-Type: text/x-shellscript\n#!/bin/bash\nset -e\n\necho hi\n"
                "--b\nContent-Type: text/cloud-config\nhostname: foo\nruncmd: [x]\n"
                "--b\nContent-Type: text/x-shellscript\nContent-Type: text/cloud-config\n\n#!/bin/sh\n"
                "--b\nContent-Type: shellscript\n\n#!/bin/sh\n"
                "--b--\n";
        struct mime_message m = {0};
        struct userdata_options o = {.origin = "ud"};
        struct userdata u = {0};
        char *err = NULL;

        ok(mime_split(msg, strlen(msg), &m, &err) == 0 && m.n_parts == 4, "the message splits into 4 parts");
        is_str(m.n_parts > 0 ? m.parts[0].body : NULL, "#!/bin/bash\nset -e\n\necho hi",
               "the body starts at the #! line, whole");
        ok(m.n_parts > 0 && m.parts[0].warning && !m.parts[0].error, "... with a warning: %s",
           m.n_parts > 0 && m.parts[0].warning ? m.parts[0].warning : "");
        ok(m.n_parts > 0 && m.parts[0].line == 5, "... on line 6 (got %zu)", m.n_parts > 0 ? m.parts[0].line : 0);
        ok(m.n_parts > 1 && m.parts[1].error && m.parts[1].len == 0,
           "a part read as headers to its end is an error, not an empty config: %s",
           m.n_parts > 1 && m.parts[1].error ? m.parts[1].error : "");
        is_str(m.n_parts > 2 ? m.parts[2].type : NULL, "text/x-shellscript", "the first of two Content-Types counts");
        is_str(m.n_parts > 3 ? m.parts[3].type : NULL, "text/plain", "a type without a '/' is text/plain");
        mime_message_done(&m);

        ok(userdata_parse(msg, strlen(msg), &o, &u) == 0, "user-data with such parts parses");
        ok(u.n_parts >= 1 && u.parts[0].len > 11 && memcmp(u.parts[0].content, "#!/bin/bash\n", 12) == 0,
           "the script runs with its #! line");
        ok(u.errors && strstr(u.errors[0], "part 2") && strstr(u.errors[0], "ud:11:"), "the empty part is an error: %s",
           u.errors ? u.errors[0] : "");
        ok(u.warnings && strstr(u.warnings[0], "part 1"), "the script part has a warning: %s",
           u.warnings ? u.warnings[0] : "");
        userdata_done(&u);
}

static void test_yaml_positions(void) {
        json_t *doc = NULL, *pos = NULL;
        char *err = NULL;
        const char *y = "a:\n  b: 1\nlist:\n  - x\n  - {c: 2}\n";

        ok(yaml_parse_positions(y, strlen(y), "f.yaml", 10, &doc, &pos, &err) == 0, "YAML with positions parses");
        is_str(json_string_value(json_object_get(pos, "a.b")), "f.yaml:12:3", "a.b at line 2+10, column 3");
        is_str(json_string_value(json_object_get(pos, "list[1].c")), "f.yaml:15:6", "list[1].c position");
        json_decref(doc);
        json_decref(pos);
        y = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e]\n";
        ok(yaml_parse_positions(y, strlen(y), "bomb", 0, &doc, NULL, &err) < 0 && err && strstr(err, "too many"),
           "an alias bomb is refused: %s", err ? err : "");
        free(err);
}

/* Plain scalars in a cloud-config typed as cloud-init's PyYAML types them
 * (YAML 1.1: 0644 is octal, 1:30 is 90, 1e5 is a string, yEs too). Each
 * expected value is json.dumps() of python3's yaml.safe_load() ("inf" and
 * "nan" as their str()). */
static void test_yaml_pyyaml(void) {
        static const struct {
                const char *scalar, *want;
        } cases[] = {
                {"", "null"},
                {"~", "null"},
                {"null", "null"},
                {"Null", "null"},
                {"NULL", "null"},
                {"nUll", "\"nUll\""},
                {"true", "true"},
                {"True", "true"},
                {"TRUE", "true"},
                {"tRue", "\"tRue\""},
                {"yes", "true"},
                {"Yes", "true"},
                {"YES", "true"},
                {"yEs", "\"yEs\""},
                {"y", "\"y\""},
                {"n", "\"n\""},
                {"no", "false"},
                {"No", "false"},
                {"off", "false"},
                {"Off", "false"},
                {"OFF", "false"},
                {"on", "true"},
                {"ON", "true"},
                {"oN", "\"oN\""},
                {"0", "0"},
                {"00", "0"},
                {"007", "7"},
                {"08", "\"08\""},
                {"0644", "420"},
                {"0_644", "420"},
                {"0o600", "\"0o600\""},
                {"0b101", "5"},
                {"0b1_0", "2"},
                {"0x1a4", "420"},
                {"0x1A_4", "420"},
                {"0X1a", "\"0X1a\""},
                {"-0x10", "-16"},
                {"+0b11", "3"},
                {"123", "123"},
                {"1_000", "1000"},
                {"-42", "-42"},
                {"+7", "7"},
                {"1:30", "90"},
                {"1:30:05", "5405"},
                {"1:60", "\"1:60\""},
                {"1:5", "65"},
                {"-1:30", "-90"},
                {"190:20:30", "685230"},
                {"1.5", "1.5"},
                {"1.", "1.0"},
                {"-1.5", "-1.5"},
                {".5", "0.5"},
                {"-.5", "\"-.5\""},
                {"+.5", "\"+.5\""},
                {"1.5e+3", "1500.0"},
                {"1.5e3", "\"1.5e3\""},
                {"1e5", "\"1e5\""},
                {"1e+5", "\"1e+5\""},
                {"1.0e-5", "1e-05"},
                {"1_0.5_", "10.5"},
                {"1:30.5", "90.5"},
                {".inf", "\"inf\""},
                {"-.inf", "\"-inf\""},
                {"+.Inf", "\"inf\""},
                {".INF", "\"inf\""},
                {".nan", "\"nan\""},
                {".NaN", "\"nan\""},
                {"-.nan", "\"-.nan\""},
                {"1.7976931348623157e+309", "\"inf\""},
                {"1e20", "\"1e20\""},
                {"3.14159", "3.14159"},
                {"100000.0", "100000.0"},
                {"ip-10-0-0-1", "\"ip-10-0-0-1\""},
                {"web1", "\"web1\""},
                {"1.2.3", "\"1.2.3\""},
                {"0.0", "0.0"},
                {"-0", "0"},
                {"0x", "\"0x\""},
                {"12e", "\"12e\""},
                {"1_", "1"},
                {"_1", "\"_1\""},
                {"0b2", "\"0b2\""},
                {"9223372036854775807", "9223372036854775807"},
                {"-9223372036854775808", "-9223372036854775808"},
                {"o", "\"o\""},
                {"E78892", "\"E78892\""},
                {"+9+::3", "\"+9+::3\""},
                {"7._", "7.0"},
                {"8_E45b8", "\"8_E45b8\""},
                {"02", "2"},
                {"028", "\"028\""},
                {"+o33x", "\"+o33x\""},
                {"_53eE", "\"_53eE\""},
                {"68+o6e", "\"68+o6e\""},
                {"9E83328", "\"9E83328\""},
                {"305", "305"},
                {"-3Ex2-", "\"-3Ex2-\""},
                {"5b:+", "\"5b:+\""},
                {"e+-", "\"e+-\""},
                {"o38e", "\"o38e\""},
                {"7+oe", "\"7+oe\""},
                {"x", "\"x\""},
                {"e8", "\"e8\""},
                {"+0:-0", "\"+0:-0\""},
                {"x_e", "\"x_e\""},
                {"_9E", "\"_9E\""},
                {"1b", "\"1b\""},
                {"83:3", "4983"},
                {"6", "6"},
                {"00x", "\"00x\""},
                {"9E_83", "\"9E_83\""},
                {"4", "4"},
                {"6078E85", "\"6078E85\""},
                {"6o", "\"6o\""},
                {".9_1bo", "\".9_1bo\""},
                {":b", "\":b\""},
                {".eo17", "\".eo17\""},
                {"-e.283", "\"-e.283\""},
                {"61", "61"},
                {"468e+4", "\"468e+4\""},
                {":138_", "\":138_\""},
                {"--4+7", "\"--4+7\""},
                {"5407_ob", "\"5407_ob\""},
                {"1x-+8e", "\"1x-+8e\""},
                {"2_1", "21"},
                {"b32-31", "\"b32-31\""},
                {"40++e", "\"40++e\""},
                {"E09287", "\"E09287\""},
                {"xE0", "\"xE0\""},
                {"70_33", "7033"},
                {":+9_", "\":+9_\""},
                {".0849x", "\".0849x\""},
                {"96Ex+02", "\"96Ex+02\""},
                {".x:o", "\".x:o\""},
                {"8-60", "\"8-60\""},
                {"e7:E", "\"e7:E\""},
                {"7", "7"},
                {"768272+", "\"768272+\""},
                {"b106o9-", "\"b106o9-\""},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *y = strdup_printf("v: %s\n", cases[i].scalar);
                json_t *doc = NULL, *want = json_loads(cases[i].want, JSON_DECODE_ANY, NULL);
                char *err = NULL, **dups = NULL;
                int r = yaml_parse_cloud(y, strlen(y), "t", 0, &doc, NULL, &dups, &err);
                _cleanup_free_ char *got = r >= 0 ? json_dumps(json_object_get(doc, "v"), JSON_ENCODE_ANY) : NULL;
                ok(r >= 0 && json_equal(json_object_get(doc, "v"), want), "'%s' is %s as PyYAML reads it (got %s)",
                   cases[i].scalar, cases[i].want,
                   got   ? got
                   : err ? err
                         : "?");
                json_decref(doc);
                json_decref(want);
                free(err);
                strv_free(dups);
        }
}

static void test_cloud_config(void) {
        const char *y = "#cloud-config\nusers: default, bob\napt_update: true\nsnap: {}\n"
                        "system_info: {default_user: {name: ubuntu, sudo: false}}\n"
                        "write_files:\n  - path: /x\n    source: {uri: http://x}\n";
        json_t *doc = NULL, *pos = NULL, *cfg = NULL, *cpos = NULL, *user;
        char **skipped = NULL, *err = NULL;

        ok(yaml_parse_positions(y, strlen(y), "cc", 0, &doc, &pos, &err) == 0, "cloud-config parses");
        ok(cloudconfig_map(doc, pos, &cfg, &cpos, &skipped) == 0, "cloud-config maps");
        is_int(json_array_size(json_object_get(cfg, "users")), 2, "a users string is split");
        ok(json_is_true(json_object_get(cfg, "package_update")), "apt_update becomes package_update");
        is_str(json_string_value(config_get(cfg, "default_user.name")), "ubuntu", "system_info.default_user maps");
        ok(skipped && strv_length(skipped) == 2, "two keys skipped");
        is_str(skipped ? skipped[0] : NULL, "snap", "snap skipped");
        is_str(skipped ? skipped[1] : NULL, "write_files[0].source", "unsupported file key skipped");
        is_str(json_string_value(json_object_get(cpos, "package_update")), "cc:3:1", "positions follow renames");
        json_decref(doc);
        json_decref(pos);
        json_decref(cfg);
        json_decref(cpos);
        strv_free(skipped);

        /* cloud-init reads every user key with '-' as '_' (ug_util.py). */
        y = "#cloud-config\nusers:\n  - name: hy\n    lock-passwd: false\n    ssh-authorized-keys:\n"
            "      - ssh-ed25519 AAAA k@h\n    primary-group: wheel\n    ssh-import-id: [gh:x]\n";
        doc = pos = cfg = cpos = NULL;
        skipped = NULL;
        ok(yaml_parse_positions(y, strlen(y), "cc", 0, &doc, &pos, &err) == 0 &&
                   cloudconfig_map(doc, pos, &cfg, &cpos, &skipped) == 0,
           "cloud-config with hyphenated user keys maps");
        user = json_array_get(json_object_get(cfg, "users"), 0);
        is_str(json_string_value(json_array_get(json_object_get(user, "ssh_authorized_keys"), 0)),
               "ssh-ed25519 AAAA k@h", "ssh-authorized-keys is read as ssh_authorized_keys");
        ok(json_is_false(json_object_get(user, "lock_passwd")), "lock-passwd is read as lock_passwd");
        is_str(json_string_value(json_object_get(user, "primary_group")), "wheel",
               "primary-group is read as primary_group");
        is_str(json_string_value(json_object_get(cpos, "users[0].ssh_authorized_keys")), "cc:5:5",
               "the position is the hyphenated key's line");
        is_str(json_string_value(json_array_get(json_object_get(user, "ssh_import_id"), 0)), "gh:x",
               "ssh-import-id is read as ssh_import_id");
        ok(!skipped, "nothing skipped");
        json_decref(doc);
        json_decref(pos);
        json_decref(cfg);
        json_decref(cpos);
        strv_free(skipped);
}

static void test_skip_messages(void) {
        static const struct {
                const char *path, *want;
        } cases[] = {
                {"apt", "cloud-config key 'apt' is not supported by kiln, skipped"},
                {"user", "cloud-config key 'user' is not supported by kiln, skipped"},
                {"hostnme", "'hostnme' is not a cloud-config key (did you mean 'hostname'?), skipped"},
                {"run_cmd", "'run_cmd' is not a cloud-config key (did you mean 'runcmd'?), skipped"},
                {"frobnicate", "'frobnicate' is not a cloud-config key, skipped"},
                {"users[2].ssh-import-id",
                 "cloud-config key 'users[2].ssh-import-id' is not supported by kiln, skipped"},
                {"users[0].ssh_authorised_keys", "'users[0].ssh_authorised_keys' is not a cloud-config key (did you "
                                                 "mean 'ssh_authorized_keys'?), skipped"},
                {"write_files[1].permission",
                 "'write_files[1].permission' is not a cloud-config key (did you mean 'permissions'?), skipped"},
                {"write_files[1].source", "cloud-config key 'write_files[1].source' is not supported by kiln, skipped"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *m = cloudconfig_skip_message(cases[i].path);
                is_str(m, cases[i].want, "skipped '%s'", cases[i].path);
                free(m);
        }
}

static void test_decode(void) {
        struct userdata_options o = {.origin = "ud"};
        struct userdata u = {0};
        const char *in = "#include\nhttp://203.0.113.1/x\nhttps://example.com/y\n";

        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && strv_length(u.includes) == 2 && !u.errors,
           "#include URLs are listed when not fetching");
        userdata_done(&u);
        ok(userdata_parse("\x1f\x8b\x08\x00", 4, &o, &u) == 0 && u.errors && strstr(u.errors[0], "gzip"),
           "truncated gzip is an error naming gzip");
        userdata_done(&u);
        ok(userdata_parse("   \n", 4, &o, &u) == 0 && !u.errors && u.n_parts == 0, "blank user-data is nothing");
        userdata_done(&u);

        /* Types as cloud-init's user_data.py handles them. */
        in = "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\n"
             "Content-Type: application/octet-stream\n\n#!/bin/sh\necho x\n--b\n"
             "Content-Type: application/x-gzip-compressed\nContent-Transfer-Encoding: base64\n\n"
             "H4sIAAAAAAAAA1NOzskvTdFNzs9Ly0znSsrPL0nOTbFSiK6I5QIAPBJFDhsAAAA=\n--b--\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && u.n_parts == 0 && u.warnings &&
                   strstr(u.warnings[0], "'application/octet-stream' is not supported") &&
                   json_is_string(json_object_get(u.config, "bootcmd")) == false &&
                   json_object_get(u.config, "bootcmd"),
           "an application/octet-stream part is skipped (no handler in cloud-init); "
           "application/x-gzip-compressed is gunzipped: %s",
           u.warnings ? u.warnings[0] : "");
        userdata_done(&u);

        /* MIME user-data as cloud-init recognises it: by "mime-version:". */
        in = "From nobody Mon Dec  7 00:00:00 2026\nContent-Transfer-Encoding: 7bit\n"
             "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\n"
             "Content-Type: text/x-shellscript\n\n#!/bin/sh\necho x\n--b--\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && u.n_parts == 1 && !u.errors,
           "MIME user-data with other headers first is read as MIME, as cloud-init reads it");
        userdata_done(&u);
        in = "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-shellscript\n\n#!/bin/sh\n--b--\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && u.n_parts == 1 && u.warnings &&
                   strstr(u.warnings[0], "without a MIME-Version header"),
           "MIME without MIME-Version is read, with a warning that cloud-init would not: %s",
           u.warnings ? u.warnings[0] : "");
        userdata_done(&u);

        /* Scripts as cloud-init writes them: dos2unix(). */
        in = "#!/bin/sh\r\necho hi\r\nx=\"a\rb\"\r\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && u.n_parts == 1 &&
                   streq(u.parts[0].content, "#!/bin/sh\necho hi\nx=\"a\rb\"\n") &&
                   u.parts[0].len == strlen(u.parts[0].content),
           "a script's CR LF line ends become LF, a lone CR stays");
        userdata_done(&u);

        /* cloud-init's type_from_starts_with(): any case, after white space. */
        in = "#Cloud-Config\nhostname: a\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && !u.errors &&
                   json_is_string(json_object_get(u.config, "hostname")),
           "#Cloud-Config is cloud-config");
        userdata_done(&u);
        in = "\n  #CLOUD-CONFIG\nhostname: a\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && !u.errors &&
                   json_is_string(json_object_get(u.config, "hostname")),
           "#CLOUD-CONFIG after blank lines is cloud-config");
        userdata_done(&u);
        in = "#Cloud-Config-Archive\n- type: x\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && !u.errors && u.warnings &&
                   strstr(u.warnings[0], "'#Cloud-Config-Archive' content is not supported"),
           "#Cloud-Config-Archive is not cloud-config: %s", u.warnings ? u.warnings[0] : "");
        userdata_done(&u);
        in = "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\n"
             "Content-Type: text/x-shellscript\n\n#cloud-config\nhostname: a\n--b--\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && !u.errors && u.n_parts == 0 &&
                   json_is_string(json_object_get(u.config, "hostname")),
           "a text/x-shellscript part that starts #cloud-config is cloud-config, as cloud-init reads it");
        userdata_done(&u);

        /* PyYAML keeps the last of a repeated key; kiln's own config refuses it. */
        in = "#cloud-config\nhostname: a\nruncmd: [x, y, z]\nhostname: b\nruncmd: [w]\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && !u.errors &&
                   streq(json_string_value(json_object_get(u.config, "hostname")) ?: "", "b") &&
                   json_array_size(json_object_get(u.config, "runcmd")) == 1,
           "a repeated cloud-config key: the last wins");
        ok(strv_length(u.warnings) == 2 && strstr(u.warnings[0], "ud:4:1: duplicate key 'hostname'"),
           "... with a warning at the later key: %s", u.warnings ? u.warnings[0] : "");
        is_str(json_string_value(json_object_get(u.positions, "runcmd")), "ud:5:1", "its position is the later one");
        ok(!json_object_get(u.positions, "runcmd[2]"), "positions of the replaced value are gone");
        userdata_done(&u);
        in = "#kiln-config\nhostname: a\nhostname: b\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && u.errors && strstr(u.errors[0], "duplicate key"),
           "a repeated kiln-config key is an error");
        userdata_done(&u);
}

static void test_validate(void) {
        json_t *cfg = json_pack("{s:{s:i}, s:[s]}", "scripts", "timeot", 3, "runcmd", "ls");
        json_t *pos = json_pack("{s:s}", "scripts.timeot", "f:4:3");
        char **w = NULL, **e = NULL;

        is_int(config_validate_at(cfg, pos, &w, &e), 0, "an unknown key is no error");
        is_str(w ? w[0] : NULL, "f:4:3: unknown key 'scripts.timeot' (did you mean 'timeout'?), ignoring",
               "warning has position and suggestion");
        strv_free(w);
        strv_free(e);
        json_decref(cfg);
        json_decref(pos);
}

/* Several #cloud-config parts merged as cloud-init 22.4+ merges them; each
 * expected value was printed by cloud-init's own mergers (cloudinit/mergers,
 * driven as handlers/cloud_config.py drives them) on the same parts. */
static json_t *merge_parts(const char *const *parts, const char *const *headers, char **ret_err) {
        json_t *acc = json_object(), *pos = json_object();

        *ret_err = NULL;
        for (size_t i = 0; parts[i]; i++) {
                json_t *doc = NULL, *dp = NULL;
                char **w = NULL, *err = NULL;
                if (yaml_parse_cloud(parts[i], strlen(parts[i]), "t", 0, &doc, &dp, &w, &err) < 0)
                        return NULL;
                if (cloudconfig_merge_part(&acc, &pos, doc, dp, headers ? headers[i] : NULL, &err) < 0) {
                        free(*ret_err);
                        *ret_err = err;
                }
                json_decref(doc);
                json_decref(dp);
                strv_free(w);
        }
        json_decref(pos);
        return acc;
}

static void test_merge(void) {
        const char *a1 = "#cloud-config\nruncmd: [bash1, bash2]\ns: hello\nl: [1, 2, 3]\n"
                         "d: {x: 1, y: [a], z: str}\nn: 5\n",
                   *a2 = "#cloud-config\nruncmd: [bash3, bash4]\ns: \" world\"\nl: [9]\n"
                         "d: {x: 2, y: [b], w: new, z: null}\nn: [1]\n",
                   *m1 = "#cloud-config\nmerge_how:\n - name: list\n   settings: [append]\n - name: dict\n"
                         "   settings: [no_replace, recurse_list]\nruncmd: [bash1, bash2]\n",
                   *m2 = "#cloud-config\nmerge_how:\n - name: list\n   settings: [append]\n - name: dict\n"
                         "   settings: [no_replace, recurse_list]\nruncmd: [bash3, bash4]\n",
                   *p1 = "#cloud-config\nmerge_type: \"list(prepend)+dict(recurse_array,recurse_str)+"
                         "str(append)\"\nruncmd: [x]\ns: \"!\"\nd: {y: [c], z: more}\n",
                   *p2 = "#cloud-config\nmerge_how: [[dict, allow_delete, no_replace], [list, no_replace]]\n"
                         "d: {z: null, y: [q, r, s]}\nl: [7, 8, 9, 10]\n",
                   *p5 = "#cloud-config\nmerge_how: \"list(append)\"\nzzz: 1\n",
                   *p6 = "#cloud-config\nmerge_how: [{name: dict, settings: \"no_replace,recurse_list\"}, "
                         "{name: \" list\", settings: [append]}]\nruncmd: [z]\n",
                   *p7 = "#cloud-config\nmerge_how: \"Dict(Recurse-Str)+ STR(APPEND) \"\ns: tail\nruncmd: 5\n",
                   *f2 = "#cloud-config\nmerge_how: \"dict(recurse_list,recurse_str)+list(append)+str(append)\"\n"
                         "l: \"h\xc3\xa9j\"\nd: {x: 1}\n",
                   *bad = "#cloud-config\nmerge_how: \"dict(bad\"\na: 1\n";
        const struct {
                const char *parts[4];
                const char *headers[4];
                const char *expected;
        } cases[] = {
                /* the default: a later part's key replaces an earlier one's */
                {{a1, a2},
                 {},
                 "{\"d\":{\"w\":\"new\",\"x\":2,\"y\":[\"b\"],\"z\":null},\"l\":[9],\"n\":[1],"
                 "\"runcmd\":[\"bash3\",\"bash4\"],\"s\":\" world\"}"},
                /* the merging docs' example: runcmd lists joined */
                {{m1, m2}, {}, "{\"runcmd\":[\"bash1\",\"bash2\",\"bash3\",\"bash4\"]}"},
                {{a1, m2},
                 {},
                 "{\"d\":{\"x\":1,\"y\":[\"a\"],\"z\":\"str\"},\"l\":[1,2,3],\"n\":5,"
                 "\"runcmd\":[\"bash1\",\"bash2\",\"bash3\",\"bash4\"],\"s\":\"hello\"}"},
                /* a part's merge_how is for its own merge, not the next one's */
                {{m1, a2},
                 {},
                 "{\"d\":{\"w\":\"new\",\"x\":2,\"y\":[\"b\"],\"z\":null},\"l\":[9],\"n\":[1],"
                 "\"runcmd\":[\"bash3\",\"bash4\"],\"s\":\" world\"}"},
                {{a1, p1, p2},
                 {},
                 "{\"d\":{\"x\":1,\"y\":[\"c\",\"a\"]},\"l\":[1,2,3],\"n\":5,"
                 "\"runcmd\":[\"x\",\"bash1\",\"bash2\"],\"s\":\"hello!\"}"},
                /* no dict merger: the whole part is ignored */
                {{p5, a1},
                 {},
                 "{\"d\":{\"x\":1,\"y\":[\"a\"],\"z\":\"str\"},\"l\":[1,2,3],\"n\":5,"
                 "\"runcmd\":[\"bash1\",\"bash2\"],\"s\":\"hello\"}"},
                {{a1, p5},
                 {},
                 "{\"d\":{\"x\":1,\"y\":[\"a\"],\"z\":\"str\"},\"l\":[1,2,3],\"n\":5,"
                 "\"runcmd\":[\"bash1\",\"bash2\"],\"s\":\"hello\"}"},
                /* settings as a string: Python's `in` finds "replace" in "no_replace" */
                {{a1, p6},
                 {},
                 "{\"d\":{\"x\":1,\"y\":[\"a\"],\"z\":\"str\"},\"l\":[1,2,3],\"n\":5,"
                 "\"runcmd\":[\"z\"],\"s\":\"hello\"}"},
                {{a1, p7},
                 {},
                 "{\"d\":{\"x\":1,\"y\":[\"a\"],\"z\":\"str\"},\"l\":[1,2,3],\"n\":5,"
                 "\"runcmd\":[\"bash1\",\"bash2\"],\"s\":\"hellotail\"}"},
                /* a str appended to a list: its characters */
                {{a1, f2},
                 {},
                 "{\"d\":{\"x\":1,\"y\":[\"a\"],\"z\":\"str\"},\"l\":[1,2,3,\"h\",\"\xc3\xa9\",\"j\"],"
                 "\"n\":5,\"runcmd\":[\"bash1\",\"bash2\"],\"s\":\"hello\"}"},
                /* the MIME Merge-Type header */
                {{a1, a2},
                 {NULL, "list(append)+dict(no_replace,recurse_list)"},
                 "{\"d\":{\"w\":\"new\",\"x\":1,\"y\":[\"a\",\"b\"],\"z\":\"str\"},\"l\":[1,2,3,9],\"n\":5,"
                 "\"runcmd\":[\"bash1\",\"bash2\",\"bash3\",\"bash4\"],\"s\":\"hello\"}"},
                /* a header with only str(): no dict merger, the part is ignored */
                {{a1, a2},
                 {NULL, "str(append)"},
                 "{\"d\":{\"x\":1,\"y\":[\"a\"],\"z\":\"str\"},\"l\":[1,2,3],"
                 "\"n\":5,\"runcmd\":[\"bash1\",\"bash2\"],\"s\":\"hello\"}"},
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char *err = NULL;
                json_t *got = merge_parts(cases[i].parts, cases[i].headers, &err);
                char *dump = got ? json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
                ok(dump && streq(dump, cases[i].expected) && !err, "merge case %zu as cloud-init: %s", i,
                   dump ? dump : "(null)");
                free(dump);
                free(err);
                json_decref(got);
        }
        {
                const char *parts[] = {a1, bad, a2, NULL};
                char *err = NULL;
                json_t *got = merge_parts(parts, NULL, &err), *nine = json_pack("[i]", 9);
                ok(got && err && strstr(err, "right format") && json_equal(json_object_get(got, "l"), nine),
                   "a part whose merge_how cloud-init cannot read is not merged (the next one is): %s", err ? err : "");
                free(err);
                json_decref(got);
                json_decref(nine);
        }
}

/* Through userdata_parse: MIME parts, a Merge-Type header, kiln's keys. */
static void test_merge_mime(void) {
        struct userdata_options o = {.origin = "ud"};
        struct userdata u = {0};
        const char *in = "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\n"
                         "Content-Type: text/cloud-config\n\n#cloud-config\nruncmd: [one]\npackages: [a]\n--b\n"
                         "Content-Type: text/cloud-config\nMerge-Type: list(append)+dict(recurse_array)+str()\n\n"
                         "#cloud-config\nruncmd: [two]\npackages: [b]\n--b\n"
                         "Content-Type: text/cloud-config\n\n#cloud-config\npackages: [c]\n--b--\n";
        char *dump;

        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && !u.errors, "three cloud-config parts");
        dump = json_dumps(u.config, JSON_SORT_KEYS | JSON_COMPACT);
        ok(dump && streq(dump, "{\"packages\":[\"c\"],\"runcmd\":[\"one\",\"two\"]}"),
           "Merge-Type appends the second part's lists; the third replaces packages: %s", dump ? dump : "");
        ok(streq(json_string_value(json_object_get(u.positions, "runcmd[1]")) ?: "", "ud:15:10"),
           "an appended item keeps its own position: %s",
           json_string_value(json_object_get(u.positions, "runcmd[1]")) ?: "(none)");
        free(dump);
        userdata_done(&u);

        /* merge-type in another case is not looked up by cloud-init (dict(part)) */
        in = "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\n"
             "Content-Type: text/cloud-config\n\n#cloud-config\nruncmd: [one]\n--b\n"
             "Content-Type: text/cloud-config\nmerge-type: list(append)+dict(recurse_array)+str()\n\n"
             "#cloud-config\nruncmd: [two]\n--b--\n";
        ok(userdata_parse(in, strlen(in), &o, &u) == 0 && !u.errors, "two parts, header in lowercase");
        dump = json_dumps(u.config, JSON_SORT_KEYS | JSON_COMPACT);
        ok(dump && streq(dump, "{\"runcmd\":[\"two\"]}"), "a lowercase merge-type header is not honoured: %s",
           dump ? dump : "");
        free(dump);
        userdata_done(&u);
}

/* The jinja subset against jinja2 itself: tests/data/userdata/jinja/
 * expected.json holds what cloud-init's renderer (jinja2 3.1, trim_blocks,
 * its UndefinedJinjaVariable) made of each case, printed by expected.py. */
static void test_jinja_differential(void) {
        const char *top = getenv("top_srcdir");
        _cleanup_free_ char *path = strdup_printf("%s/tests/data/userdata/jinja/expected.json", top ? top : ".");
        _cleanup_json_ json_t *doc = json_load_file(path, 0, NULL);
        json_t *vars = json_object_get(doc, "vars"), *c;
        size_t i;

        if (!ok(json_is_array(json_object_get(doc, "cases")), "jinja: %s loads", path))
                return;
        json_array_foreach(json_object_get(doc, "cases"), i, c) {
                const char *t = json_string_value(json_object_get(c, "t"));
                const char *want = json_string_value(json_object_get(c, "ok"));
                const char *kiln_only = json_string_value(json_object_get(c, "kiln"));
                _cleanup_free_ char *out = NULL, *err = NULL;
                _cleanup_strv_free_ char **missing = NULL;
                size_t len = 0, k;
                json_t *m;
                int r = jinja_render(t, strlen(t), vars, &out, &len, &missing, &err);

                if (kiln_only) { /* jinja renders it, kiln's subset does not: an error naming it */
                        ok(r == -EINVAL && err && strstr(err, kiln_only), "jinja case %zu: kiln refuses it (%s)", i,
                           err ? err : "no error");
                        continue;
                }
                if (!want) {
                        ok(r == -EINVAL && err, "jinja case %zu: an error as jinja2's '%s' (%s)", i,
                           json_string_value(json_object_get(c, "err")), err ? err : "none");
                        continue;
                }
                if (!ok(r == 0 && len == strlen(want) && memcmp(out, want, len) == 0,
                        "jinja case %zu renders as jinja2 does", i))
                        printf("#   template '%s'\n#   got '%s' (%d, %s), expected '%s'\n", t, out ? out : "", r,
                               err ? err : "", want);
                json_array_foreach(json_object_get(c, "missing"), k, m) {
                        bool found = false;
                        for (char **x = missing; x && *x; x++)
                                found = found || streq(*x, json_string_value(m));
                        ok(found, "jinja case %zu: '%s' named as undefined, as cloud-init warns", i,
                           json_string_value(m));
                }
        }
}

/* Positions, bounds and the header. */
static void test_jinja_limits(void) {
        _cleanup_json_ json_t *vars = json_pack("{s{ss}}", "v1", "region", "eu-west-1");
        _cleanup_strbuf_ struct strbuf deep = STRBUF_INIT, big = STRBUF_INIT;
        char *out = NULL, *err = NULL, **missing = NULL;
        size_t len = 0, hl = 0;
        int r;

        r = jinja_render("a\nb {{ v1.region | nosuch }}", 28, vars, &out, &len, &missing, &err);
        ok(r == -EINVAL && err && strneq(err, "2:18: ", 6) && strstr(err, "'nosuch'"),
           "an unknown filter is an error at its line and column (%s)", err ? err : "none");
        free(err);
        err = NULL;
        r = jinja_render("x\n  {% macro m() %}{% endmacro %}", 32, vars, &out, &len, &missing, &err);
        ok(r == -EINVAL && err && strneq(err, "2:6: ", 5) && strstr(err, "'macro'"),
           "a tag outside the subset is an error naming it (%s)", err ? err : "none");
        free(err);
        err = NULL;
        r = jinja_render("{% if 1 %}\n{% for x in [1] %}", 29, vars, &out, &len, &missing, &err);
        ok(r == -EINVAL && err && strneq(err, "2:4: ", 5), "an unclosed block points at its opening tag (%s)",
           err ? err : "none");
        free(err);
        err = NULL;
        for (int i = 0; i < 100; i++)
                (void) strbuf_puts(&deep, "{% if 1 %}");
        r = jinja_render(deep.data, deep.len, vars, &out, &len, &missing, &err);
        ok(r == -EINVAL && err && strstr(err, "too deep"), "blocks nested 100 deep are refused (%s)",
           err ? err : "none");
        free(err);
        err = NULL;
        for (int i = 0; i < 200; i++)
                (void) strbuf_puts(&big, "(");
        r = jinja_render(big.data, big.len, vars, &out, &len, &missing, &err);
        ok(r == 0 && len == big.len, "parentheses in text are text");
        free(out);
        out = NULL;
        big.len = 0;
        (void) strbuf_puts(&big, "{{ ");
        for (int i = 0; i < 200; i++)
                (void) strbuf_puts(&big, "(");
        r = jinja_render(big.data, big.len, vars, &out, &len, &missing, &err);
        ok(r == -EINVAL && err && strstr(err, "too deep"), "an expression nested 200 deep is refused (%s)",
           err ? err : "none");
        free(err);
        err = NULL;
        /* 4 nested loops of 64 over a 64 KiB string: more than 16 MiB out */
        big.len = 0;
        (void) strbuf_puts(&big, "{% for a in v1.l %}{% for b in v1.l %}{% for c in v1.l %}{{ v1.s }}{% endfor %}"
                                 "{% endfor %}{% endfor %}");
        {
                _cleanup_json_ json_t *l = json_array(), *v = NULL;
                _cleanup_free_ char *s = malloc(65536);
                for (int i = 0; i < 64; i++)
                        json_array_append_new(l, json_integer(i));
                memset(s, 'x', 65536);
                v = json_pack("{s{sOss#}}", "v1", "l", l, "s", s, (size_t) 65536);
                r = jinja_render(big.data, big.len, v, &out, &len, &missing, &err);
                ok(r == -EFBIG, "output beyond 16 MiB is refused");
        }
        ok(jinja_header_len("## template: jinja\n#!/bin/sh\n", 29, &hl) == 0 && hl == 19, "the header line");
        ok(jinja_header_len("##Template:  JINJA \r\nx", 22, &hl) == 0 && hl == 21,
           "the header as cloud-init's TYPE_MATCHER reads it (any case, blanks)");
        ok(jinja_header_len(" ## template: jinja\n", 20, &hl) < 0, "blanks before ## are not the header");
        ok(jinja_header_len("## template: jinja2\n", 20, &hl) < 0, "'jinja2' is not jinja");
        strv_free(missing);
}

/* cloud-init 22.4 runs a module only on the distros of its meta unless
 * unverified_modules names it (config/modules.py run_section). */
static void test_distro_gate(void) {
        static const struct {
                const char *id, *distro;
        } ids[] = {{"debian", "debian"},
                   {"ubuntu", "ubuntu"},
                   {"amzn", "amazon"},
                   {"rhel", "rhel"},
                   {"centos", "centos"},
                   {"fedora", "fedora"},
                   {"opensuse-leap", "opensuse"},
                   {"sles", "sles"},
                   {"openEuler", "openEuler"},
                   {"linuxmint", "ubuntu"},
                   {"pop", NULL},
                   {NULL, NULL}};
        static const struct {
                const char *key, *distro, *unverified;
                const char *module; /* NULL: cloud-init runs it (kiln: unsupported) */
        } cases[] = {
                {"snap", "debian", NULL, "snap"},
                {"snap", "ubuntu", NULL, NULL},
                {"snap", "amazon", NULL, "snap"},
                {"snap", NULL, NULL, NULL}, /* distro not known: not guessed */
                {"snap", "debian", "[\"snap\"]", NULL},
                {"snap", "debian", "[\"cc_snap.py\"]", NULL},
                {"snap", "debian", "[\"lxd\"]", "snap"},
                {"snap", "debian", "\"snap, lxd\"", NULL},
                {"snap", "debian", "{\"snap\": 1}", NULL},
                {"snap", "debian", "[1, null]", "snap"},
                {"ubuntu_advantage", "debian", NULL, "ubuntu_advantage"},
                {"ubuntu-advantage", "amazon", NULL, "ubuntu_advantage"},
                {"ubuntu_advantage", "debian", "[\"ubuntu-advantage\"]", NULL},
                {"drivers", "debian", NULL, "ubuntu_drivers"},
                {"autoinstall", "amazon", NULL, "ubuntu_autoinstall"},
                {"wireguard", "debian", NULL, "wireguard"},
                {"lxd", "ubuntu", NULL, NULL},
                {"fan", "debian", NULL, "fan"},
                {"landscape", "amazon", NULL, "landscape"},
                {"apk_repos", "debian", NULL, "apk_configure"},
                {"apk_repos", "alpine", NULL, NULL},
                {"zypper", "amazon", NULL, "zypper_add_repo"},
                {"zypper", "sles", NULL, NULL},
                {"zypper", "opensuse", NULL, NULL},
                {"rh_subscription", "amazon", NULL, "rh_subscription"},
                {"rh_subscription", "rhel", NULL, NULL},
                {"rh_subscription", "fedora", NULL, NULL},
                {"spacewalk", "centos", NULL, "spacewalk"},
                {"spacewalk", "rhel", NULL, NULL},
                /* modules that run everywhere, and keys kiln does */
                {"puppet", "debian", NULL, NULL},
                {"chef", "amazon", NULL, NULL},
                {"yum_repos", "debian", NULL, NULL},
                {"apt", "amazon", NULL, NULL},
        };
        char dir[] = "/tmp/test-userdata-distro-XXXXXX";
        _cleanup_free_ char *etc = NULL, *osr = NULL;
        char *why = NULL;
        json_t *uv;

        for (size_t i = 0; ids[i].id; i++) {
                const char *got = cloudconfig_distro_name(ids[i].id);
                ok(ids[i].distro ? got && streq(got, ids[i].distro) : !got, "os-release ID %s is cloud-init's %s",
                   ids[i].id, ids[i].distro ? ids[i].distro : "(not known)");
        }
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *module = NULL, *distros = NULL;
                bool skips;
                uv = cases[i].unverified ? json_loads(cases[i].unverified, JSON_DECODE_ANY, NULL) : NULL;
                skips = cloudconfig_distro_skips(cases[i].key, cases[i].distro, uv, &module, &distros);
                ok(skips == (cases[i].module != NULL) && (!skips || streq(module, cases[i].module)),
                   "%s on %s, unverified_modules %s: %s", cases[i].key, cases[i].distro ? cases[i].distro : "?",
                   cases[i].unverified ? cases[i].unverified : "-",
                   cases[i].module ? cases[i].module : "cloud-init runs it");
                json_decref(uv);
        }

        /* the distribution is --root's os-release, named in the message */
        ok(mkdtemp(dir) != NULL, "temporary root");
        etc = strdup_printf("%s/etc", dir);
        osr = strdup_printf("%s/etc/os-release", dir);
        ok(etc && osr && mkdir(etc, 0755) == 0 && write_file_atomic(osr, "ID=\"amzn\"\n", 10, 0644) == 0,
           "an os-release under the root");
        (void) root_set(dir);
        ok(cloudconfig_distro_why("lxd", NULL, &why) == 0 && why &&
                   strstr(why, "does not run its module lxd on amazon either, only on ubuntu") &&
                   strstr(why, "(ID=amzn in ") && strstr(why, osr),
           "the reason names the module, the distros and the os-release read");
        free(why);
        uv = json_loads("[\"lxd\"]", 0, NULL);
        ok(cloudconfig_distro_why("lxd", uv, &why) == 0 && !why, "unverified_modules: no reason, lxd is unsupported");
        json_decref(uv);
        (void) unlink(osr);
        ok(cloudconfig_distro_why("lxd", NULL, &why) == 0 && !why, "no os-release: not guessed");
        (void) rmdir(etc);
        (void) rmdir(dir);
        (void) root_set("/nonexistent-test-root");
}

/* add_apt_repo_match: Python patterns as POSIX EREs match what Python's
 * re.search() matches (expected values from Python 3.11). */
static void test_apt_repo_regex(void) {
        static const char *const strs[] = {"ppa:owner/name",
                                           "cloud-archive:queens",
                                           "deb http://x/ y main",
                                           "http://x",
                                           "1.x",
                                           "a-z:",
                                           "b:",
                                           "-:x",
                                           "foo.list",
                                           "# ppa:x",
                                           "deb\thttp://",
                                           "x-y_z:1"};
        static const struct {
                const char *pat, *want;
        } cases[] = {
                {"^[\\w-]+:\\w", "110000010001"},
                {"^deb\\s", "001000000010"},
                {"^(ppa|cloud-archive):", "110000000000"},
                {"[\\d]+\\.x$", "000010000000"},
                {"^[^#\\s]+:\\S", "110100010001"},
                {"ppa:.*?/", "100000000000"},
                {"[a\\-z]:", "100001010101"},
                {"\\.list$", "000000001000"},
                {"^p{1,2}?a", "100000000000"},
                {"a{", "000000000000"},
                {"^(de|pp)[ab]{0,3}\\W", "101000000010"},
                {"p{,2}a:", "100000000100"},
        };
        static const char *const refused[] = {"(?i)ppa", "\\bppa", "[[:alpha:]]", "ppa\\", "[abc", "\\1",
                                              /* what would blow up glibc's regcomp() */
                                              "w-+++", "a*+", "(a+)+", "((a)*b)*", "a{17}", "(a", "a)", "*a"};

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *ere = NULL, *err = NULL;
                char got[ELEMENTSOF(strs) + 1] = {0};
                regex_t re;
                if (!ok(system_apt_repo_regex(cases[i].pat, &ere, &err) == 0 &&
                                regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) == 0,
                        "add_apt_repo_match %s translates", cases[i].pat))
                        continue;
                for (size_t k = 0; k < ELEMENTSOF(strs); k++)
                        got[k] = regexec(&re, strs[k], 0, NULL, 0) == 0 ? '1' : '0';
                regfree(&re);
                is_str(got, cases[i].want, "... and matches as Python's re.search() does");
        }
        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                _cleanup_free_ char *ere = NULL, *err = NULL;
                ok(system_apt_repo_regex(refused[i], &ere, &err) == -EINVAL && err,
                   "add_apt_repo_match %s is refused with a reason (%s)", refused[i], err ? err : "none");
        }
        {
                _cleanup_free_ char *big = calloc(1, 1100), *ere = NULL, *err = NULL;
                if (big)
                        memset(big, 'a', 1025);
                ok(big && system_apt_repo_regex(big, &ere, &err) == -EINVAL, "a pattern over 1024 bytes is refused");
        }
}

/* The launch index filter as cloud-init 22.4's (filters/launch_index.py). */
static char *fixed_index(void *userdata, char **ret_problem) {
        *ret_problem = NULL;
        return userdata ? strdup(userdata) : NULL;
}

static bool has_part(const struct userdata *u, const char *name) {
        for (size_t i = 0; i < u->n_parts; i++)
                if (streq(u->parts[i].filename, name))
                        return true;
        return false;
}

static bool warned_of(const struct userdata *u, const char *what) {
        for (char **w = u->warnings; w && *w; w++)
                if (strstr(*w, what))
                        return true;
        return false;
}

static void test_launch_index(void) {
        static const char in[] =
                "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n"
                "--b\nContent-Type: text/x-shellscript\nLaunch-Index: 0\n"
                "Content-Disposition: attachment; filename=zero.sh\n\n#!/bin/sh\necho 0\n"
                "--b\nContent-Type: text/x-shellscript\nlaunch-index:  +1 \n"
                "Content-Disposition: attachment; filename=one.sh\n\n#!/bin/sh\necho 1\n"
                "--b\nContent-Type: text/x-shellscript\nContent-Disposition: attachment; filename=all.sh\n\n"
                "#!/bin/sh\necho all\n"
                "--b\nContent-Type: text/x-shellscript\nLaunch-Index: x\n"
                "Content-Disposition: attachment; filename=bad.sh\n\n#!/bin/sh\necho bad\n"
                "--b\nContent-Type: text/cloud-config\n\n#cloud-config\nlaunch-index: 1\nhostname: one\n"
                "--b\nContent-Type: text/cloud-config\nLaunch-Index: 0\n\n#cloud-config\nlaunch-index: 1\n"
                "timezone: Etc/UTC\n"
                "--b\nContent-Type: text/cloud-config\n\n#cloud-config\nlaunch-index: abc\npackage_upgrade: true\n"
                "--b\nContent-Type: text/cloud-boothook\nLaunch-Index: 1\n"
                "Content-Disposition: attachment; filename=hook.sh\n\n#cloud-boothook\n#!/bin/sh\necho hook\n"
                "--b--\n";
        static const char plain[] = "#cloud-config\nlaunch-index: 1\nhostname: plain\n";
        struct userdata_options o = {.origin = "ud", .launch_index = fixed_index};
        struct userdata u = {0};

        o.launch_index_userdata = (void *) "0";
        ok(userdata_parse(in, sizeof(in) - 1, &o, &u) == 0 && !u.errors, "launch-indexed user-data parses");
        ok(u.n_parts == 2 && has_part(&u, "zero.sh") && has_part(&u, "all.sh"),
           "index 0: the part for 0 and the one for all kept; for 1 and 'x' dropped (%zu parts)", u.n_parts);
        ok(!json_object_get(u.config, "hostname") && json_object_get(u.config, "timezone") &&
                   json_object_get(u.config, "package_upgrade"),
           "index 0: the cloud-config with launch-index 1 dropped, the one whose header 0 wins kept, a "
           "non-number key kept");
        ok(strv_length(u.dropped) == 4 && strstr(u.dropped[0], "'one.sh'") &&
                   strstr(u.dropped[0], "for launch index 1, this instance's ami-launch-index is 0"),
           "each dropped part named with both indexes: %s", u.dropped ? u.dropped[0] : "none");
        ok(!warned_of(&u, "launch-index") && !u.notes, "launch-index is not warned about");
        userdata_done(&u);

        o.launch_index_userdata = (void *) "1";
        ok(userdata_parse(in, sizeof(in) - 1, &o, &u) == 0 && u.n_parts == 3 && has_part(&u, "one.sh") &&
                   has_part(&u, "all.sh") && has_part(&u, "hook.sh") &&
                   streq(json_string_value(json_object_get(u.config, "hostname")), "one") &&
                   !json_object_get(u.config, "timezone") && strv_length(u.dropped) == 3,
           "index 1: its script, boothook and cloud-config kept, the others dropped");
        userdata_done(&u);

        o.launch_index_userdata = NULL;
        ok(userdata_parse(in, sizeof(in) - 1, &o, &u) == 0 && u.n_parts == 5 && !u.dropped &&
                   json_object_get(u.config, "hostname") && json_object_get(u.config, "timezone"),
           "no ami-launch-index: nothing dropped (cloud-init's filter is off)");
        userdata_done(&u);
        o.launch_index_userdata = (void *) "zero";
        ok(userdata_parse(in, sizeof(in) - 1, &o, &u) == 0 && u.n_parts == 5 && !u.dropped,
           "an ami-launch-index that is not a number: nothing dropped");
        userdata_done(&u);

        o.launch_index_userdata = (void *) "0";
        ok(userdata_parse(plain, sizeof(plain) - 1, &o, &u) == 0 && json_object_size(u.config) == 0 &&
                   strv_length(u.dropped) == 1 && strstr(u.dropped[0], "ud:1:1: for launch index 1"),
           "plain #cloud-config user-data with launch-index 1 on index 0: dropped whole");
        userdata_done(&u);
        o.launch_index_userdata = (void *) "1";
        ok(userdata_parse(plain, sizeof(plain) - 1, &o, &u) == 0 &&
                   streq(json_string_value(json_object_get(u.config, "hostname")), "plain") && !u.warnings,
           "... and applied on index 1, launch-index not warned about");
        userdata_done(&u);

        /* validate: the index is unknown */
        o.launch_index = NULL;
        ok(userdata_parse(in, sizeof(in) - 1, &o, &u) == 0 && u.n_parts == 5 && !u.dropped &&
                   strv_length(u.notes) == 5 &&
                   strstr(u.notes[0], "part 1 'zero.sh' (line 9) applies only to the "
                                      "instance of launch index 0") &&
                   warned_of(&u, "Launch-Index 'x' is not a number"),
           "without IMDS each indexed part is a note, a header that is no number a warning: %s",
           u.notes ? u.notes[0] : "none");
        userdata_done(&u);
}

/* Script parts run only with #! first, as cloud-init's exec runs them. */
static void test_script_shebang(void) {
        static const char in[] = "Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n"
                                 "--b\nContent-Type: text/x-shellscript; name=bare.sh\n\necho bare\n"
                                 "--b\nContent-Type: text/x-shellscript-per-once; name=blank.sh\n\n\n#!/bin/sh\n"
                                 "--b\nContent-Type: text/x-shellscript; name=good.sh\n\n#!/bin/sh\necho good\n"
                                 "--b\nContent-Type: text/x-shellscript; name=cc\n\n#cloud-config\nhostname: h\n"
                                 "--b--\n";
        struct userdata_options o = {.origin = "ud"};
        struct userdata u = {0};

        ok(userdata_parse(in, sizeof(in) - 1, &o, &u) == 0 && !u.errors && u.n_parts == 1 && has_part(&u, "good.sh") &&
                   json_object_get(u.config, "hostname"),
           "only the script part with #! first is kept (a text/x-shellscript part of cloud-config is config)");
        ok(strv_length(u.warnings) == 2 && warned_of(&u, "part 1 'bare.sh': script with no #! line not run") &&
                   warned_of(&u, "part 2 'blank.sh': script with no #! line not run"),
           "each one dropped is named in a warning");
        userdata_done(&u);
        ok(userdata_parse("#!/bin/sh\necho x\n", 17, &o, &u) == 0 && u.n_parts == 1 && !u.warnings,
           "plain #! user-data is a script, no warning");
        userdata_done(&u);
}

int main(void) {
        (void) root_set("/nonexistent-test-root");
        test_base64();
        test_base64_python();
        test_base64_users();
        test_mime();
        test_mime_no_separator();
        test_yaml_positions();
        test_yaml_pyyaml();
        test_cloud_config();
        test_skip_messages();
        test_distro_gate();
        test_decode();
        test_merge();
        test_merge_mime();
        test_validate();
        test_launch_index();
        test_script_shebang();
        test_jinja_differential();
        test_jinja_limits();
        test_apt_repo_regex();
        return tap_done();
}
