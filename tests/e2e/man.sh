#!/bin/bash
# kiln(8) and kiln.yaml(5) say what the built kiln does: they equal what
# packaging/man/gen-man writes from this binary now; every command, every
# option of every command's --help, every environment variable kiln's code
# reads and every config key is in them; man renders them without warnings;
# make install installs them with the bash completion, which completes
# commands, options and site names.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

man8=$top_builddir/packaging/man/kiln.8
man5=$top_builddir/packaging/man/kiln.yaml.5
gen=$top_srcdir/packaging/man/gen-man

bash "$gen" kiln.8 "$KILN" "$top_srcdir/packaging/man/kiln.8.sections" >"$T/kiln.8" 2>"$T/gen.err"
ok $? "gen-man writes kiln.8"
cmp -s "$T/kiln.8" "$man8"
ok $? "the built kiln.8 is what this kiln's --help says (no drift)"
[ $? = 0 ] || diag <(diff "$man8" "$T/kiln.8" | head -20)
bash "$gen" kiln.yaml.5 "$KILN" >"$T/kiln.yaml.5" 2>>"$T/gen.err"
cmp -s "$T/kiln.yaml.5" "$man5"
ok $? "the built kiln.yaml.5 is what this kiln's validate --keys says (no drift)"

MANWIDTH=200 man -l "$man8" >"$T/man8.txt" 2>/dev/null
# (What gen-man could get wrong, seen as the reader sees it.)
for cmd in $("$KILN" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p'); do
	grep -q "^\.SS \"${cmd//-/\\\\-}\b" "$man8"
	ok $? "kiln.8 has a section for $cmd"
	missing=
	for opt in $("$KILN" "$cmd" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
		grep -q -- "$opt" "$T/man8.txt" || missing="$missing $opt"
	done
	[ -z "$missing" ]
	ok $? "kiln.8 has every option of $cmd --help${missing:+ (missing:$missing)}"
done
for opt in --root --config --verbose --help; do
	grep -qE -- "^ *(-[a-z], )?$opt" "$T/man8.txt"
	ok $? "kiln.8 lists the global option $opt"
done
for sec in "EXIT STATUS" ENVIRONMENT FILES; do
	grep -q "^$sec" "$T/man8.txt"
	ok $? "kiln.8 has $sec"
done

# Every environment variable kiln's sources name, in ENVIRONMENT.
vars=$(cat "$top_srcdir"/agent/*.c "$top_srcdir"/modules/*/*.c | grep -oE '"(KILN|AWS)_[A-Z0-9_]+"|getenv\("[A-Z_]+"\)' |
	grep -oE '[A-Z][A-Z0-9_]+' | grep -vx getenv | sort -u)
[ "$(echo "$vars" | wc -l)" -ge 10 ]
ok $? "the sources name environment variables ($(echo "$vars" | wc -l))"
missing=
for v in $vars; do
	sed -n '/^\.SH ENVIRONMENT/,/^\.SH FILES/p' "$man8" | grep -q "\b$v\b" || missing="$missing $v"
done
[ -z "$missing" ]
ok $? "kiln.8 ENVIRONMENT names each of them${missing:+ (missing:$missing)}"

man -l "$man5" >"$T/man5.txt" 2>/dev/null
missing=
n=0
for key in $("$KILN" validate --keys | sed -n 's/^| `\([^`]*\)` .*/\1/p'); do
	n=$((n + 1))
	grep -qF -- "$key" "$T/man5.txt" || missing="$missing $key"
done
[ $n -ge 50 ] && [ -z "$missing" ]
ok $? "kiln.yaml.5 has each of the $n config keys${missing:+ (missing:$missing)}"

for page in "$man8" "$man5"; do
	LC_ALL=C.UTF-8 MANROFFSEQ='' man --warnings=w -l "$page" 2>"$T/warn" >/dev/null
	[ ! -s "$T/warn" ]
	ok $? "man renders $(basename "$page") without warnings"
	[ -s "$T/warn" ] && diag <(head -5 "$T/warn")
done

# make install: the pages and the completion.
(unset MAKEFLAGS MFLAGS MAKELEVEL; make -C "$top_builddir" install DESTDIR="$T/inst" prefix=/usr) >"$T/install.log" 2>&1
ok $? "make install"
for f in share/man/man8/kiln.8 share/man/man5/kiln.yaml.5 share/bash-completion/completions/kiln; do
	check "installs /usr/$f" test -s "$T/inst/usr/$f"
done

# The completion, as bash runs it.
mkdir -p "$ROOT/etc/kiln"
cat >"$ROOT/etc/kiln/kiln.yaml" <<'EOY'
sites:
  - name: plain
    domains: [plain.test]
    locations: { /: { return: 200 } }
  - name: shop
    domains: [shop.test]
    tls: acme
    locations: { /: { return: 200 } }
EOY
complete_line() { # complete_line WORD...: what completing the last word offers
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _kiln; echo "${COMPREPLY[*]}"' \
		_ "$T/inst/usr/share/bash-completion/completions/kiln" "$@"
}
PATH=$(dirname "$KILN"):$PATH
export PATH
is() { [ "$1" = "$2" ]; ok $? "$3"; [ "$1" = "$2" ] || echo "#   got '$1', expected '$2'"; }
is "$(complete_line "$KILN" re)" "renew" "completion: a command"
is "$(complete_line "$KILN" status --)" "--json --timeout --wait --help" "completion: a command's options"
is "$(complete_line "$KILN" --root "$ROOT" renew "")" "shop" "completion: renew offers the tls: acme sites"
is "$(complete_line "$KILN" --root "$ROOT" nginx render "")" "plain shop" "completion: nginx render offers every site"
is "$(complete_line "$KILN" debug "")" "sigv4" "completion: debug sigv4"

done_testing
