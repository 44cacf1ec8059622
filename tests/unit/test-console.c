/* SPDX-License-Identifier: MIT */
/* final_message rendered as cloud-init's templater renders it. */
#include <errno.h>
#include <stdlib.h>

#include "console.h"
#include "macro.h"
#include "tap.h"

static const struct final_message_values v = {"12.34", "Mon, 07 Dec 2026 17:30:00 +0000", "1.0", "DataSourceEc2"};

static void check(const char *tmpl, const char *want, const char *what) {
        _cleanup_free_ char *out = NULL;
        const char *err = NULL;
        int r = console_render_final_message(tmpl, &v, &out, &err);

        if (!want) {
                ok(r == -EINVAL && err, "%s: refused (%s)", what, err ? err : "no reason");
                return;
        }
        is_int(r, 0, "%s: renders", what);
        is_str(out, want, "%s", what);
}

int main(void) {
        check("The system is finally up, after $UPTIME seconds", "The system is finally up, after 12.34 seconds",
              "the docs' example: $UPTIME");
        check("up ${uptime}s at $timestamp, v$version from $datasource",
              "up 12.34s at Mon, 07 Dec 2026 17:30:00 +0000, v1.0 from DataSourceEc2", "$name and ${name}");
        check("cost $ 5 and $", "cost $ 5 and $", "a lone $ stays");
        check("${uptime", "${uptime", "an unclosed ${ stays");
        check("$Uptime", NULL, "mixed case is not a name (KeyError)");
        check("hello $HOME", NULL, "an unknown $name (KeyError)");
        check("## template: jinja\nUp {{uptime}} s, {{ version }}.", "Up 12.34 s, 1.0.", "jinja {{ name }}");
        check("## Template: JINJA\n{{nothere}}", "CI_MISSING_JINJA_VAR/nothere", "jinja: an unknown name");
        check("## template: jinja\n{% if x %}y{% endif %}", NULL, "jinja beyond {{ name }}");
        check("## template: jinja\n{{ uptime | int }}", NULL, "jinja filters");
        check("## template: basic\n$version", "1.0", "an explicit basic template");
        check("## template: mako\nx", NULL, "an unknown template type");
        check("## not a template line\n$version", "## not a template line\n1.0", "another ## line is text");
        return tap_done();
}
