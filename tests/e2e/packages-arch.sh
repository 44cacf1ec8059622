#!/bin/bash
# `make deb` and `make rpm` build a package for this machine's architecture
# and one for arm64 (Graviton), cross-built, each named by its format's
# convention, each saying its architecture and holding a kiln binary for it;
# lintian and rpmlint find no errors in them.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

is() { # is VALUE EXPECTED DESCRIPTION
	[ "$1" = "$2" ]
	ok $? "$3"
	[ "$1" = "$2" ] || echo "#   got '$1', expected '$2'"
}

version=$(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")
native=$(dpkg --print-architecture)
# Into this test's own directory (PKG_DIR): boot-nspawn.sh bakes the .deb
# in pkg/ meanwhile. The lock keeps the `make dist` of both apart.
pkg=$T/pkg
(unset MAKEFLAGS MFLAGS MAKELEVEL; mkdir -p "$top_builddir/pkg" && flock -w 900 "$top_builddir/pkg/.lock" make -C "$top_builddir" deb rpm PKG_DIR="$pkg") >"$T/make.log" 2>&1
ok $? "make deb rpm"
[ $? = 0 ] || diag <(tail -30 "$T/make.log")

# elf_machine FILE: the e_machine of an ELF file, as file(1) names it.
elf_machine() { file -b "$1" | sed -n 's/^ELF 64-bit LSB [a-z ]*executable, \([^,]*\),.*/\1/p'; }

for arch in $native arm64; do
	case $arch in
	amd64) rpmarch=x86_64 machine=x86-64 ;;
	arm64) rpmarch=aarch64 machine="ARM aarch64" ;;
	*) rpmarch=$arch machine=? ;;
	esac
	deb=$pkg/kiln_${version}_$arch.deb
	check "kiln_${version}_$arch.deb exists" test -s "$deb"
	is "$(dpkg-deb -f "$deb" Architecture 2>/dev/null)" "$arch" "its control file says Architecture: $arch"
	rm -rf "$T/x" && mkdir -p "$T/x" && dpkg-deb -x "$deb" "$T/x" 2>/dev/null
	is "$(elf_machine "$T/x/usr/bin/kiln")" "$machine" "its /usr/bin/kiln is an $machine program"
	dpkg-deb -c "$deb" 2>/dev/null | awk '{print $6}' >"$T/deb.files"
	grep -q '^\./usr/share/man/man8/kiln\.8\.gz$' "$T/deb.files" && grep -q '^\./usr/share/man/man5/kiln\.yaml\.5\.gz$' "$T/deb.files" &&
		grep -q '^\./usr/share/bash-completion/completions/kiln$' "$T/deb.files"
	ok $? "it holds kiln(8), kiln.yaml(5) and the bash completion ($arch)"
	dpkg-deb -f "$deb" Depends | grep -q 'libcurl4, libssl3, libsystemd0, zlib1g'
	ok $? "it depends on the libraries kiln dlopen()s ($arch)"

	rpm=$pkg/RPMS/$rpmarch/kiln-$version-1.$rpmarch.rpm
	check "RPMS/$rpmarch/kiln-$version-1.$rpmarch.rpm exists" test -s "$rpm"
	is "$(rpm -qp --qf '%{ARCH}' "$rpm" 2>/dev/null)" "$rpmarch" "its header says arch $rpmarch"
	rpm -qlp "$rpm" >"$T/rpm.files" 2>/dev/null
	grep -q '^/usr/share/man/man8/kiln\.8' "$T/rpm.files" && grep -q '^/usr/share/man/man5/kiln\.yaml\.5' "$T/rpm.files" &&
		grep -qx /usr/share/bash-completion/completions/kiln "$T/rpm.files"
	ok $? "it holds kiln(8), kiln.yaml(5) and the bash completion ($rpmarch)"
	rm -rf "$T/x" && mkdir -p "$T/x" && (cd "$T/x" && rpm2cpio "$rpm" | cpio -id --quiet ./usr/bin/kiln) 2>/dev/null
	is "$(elf_machine "$T/x/usr/bin/kiln")" "$machine" "its /usr/bin/kiln is an $machine program"
done

# The Packer template bakes Graviton AMIs too: an arm64 source per
# distribution, on a Graviton instance type, built by the build block.
hcl=$top_srcdir/packaging/packer/kiln.pkr.hcl
for src in debian12 ubuntu2404 al2023; do
	sed -n "/^source \"amazon-ebs\" \"$src-arm64\" {/,/^}/p" "$hcl" >"$T/src"
	grep -q 'architecture *= "arm64"' "$T/src" && grep -q 'instance_type = var.instance_type_arm64' "$T/src" &&
		grep -qE 'name *= ".*arm64' "$T/src" && grep -q "\"source.amazon-ebs.$src-arm64\"" "$hcl"
	ok $? "packer: $src-arm64 source (arm64 AMI filter, Graviton type, built)"
done
grep -A3 'variable "instance_type_arm64"' "$hcl" | grep -qE 'default *= "(t4g|m[678]g|c[678]g|r[678]g)\.'
ok $? "packer: the arm64 default instance type is a Graviton one"
if command -v packer >/dev/null; then
	packer validate -var package=/dev/null "$hcl" >"$T/packer.log" 2>&1
	ok $? "packer validate"
	diag "$T/packer.log"
fi

# lintian and rpmlint: no errors; the warnings left are listed in
# packaging/README.md with why.
for deb in "$pkg"/kiln_"$version"_*.deb; do
	lintian --tag-display-limit 0 "$deb" >"$T/lintian" 2>&1
	! grep -q '^E:' "$T/lintian"
	ok $? "lintian $(basename "$deb"): no errors"
	diag <(grep -E '^[EW]:' "$T/lintian")
done
rpmlint -c "$top_srcdir/packaging/rpm/rpmlint.toml" "$pkg"/RPMS/*/kiln-"$version"-*.rpm >"$T/rpmlint" 2>&1
grep -q ' 0 errors' "$T/rpmlint" && ! grep -q ': E: ' "$T/rpmlint"
ok $? "rpmlint: no errors"
diag <(grep -E ': [EW]: ' "$T/rpmlint")

done_testing
