#!/bin/bash
# Packaging that needs no image: the RPM builds from the dist tarball with
# Debian's rpmbuild and holds what `make install` installs; the versions in
# the Debian changelog and the spec match configure's; the Packer template
# validates (Debian's packer 1.6, when installed).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

version=$(sed -n 's/^PACKAGE_VERSION = //p' "$top_builddir/Makefile")
check "configure's version is known ($version)" test -n "$version"
check "debian/changelog has version $version" grep -q "^kiln ($version)" "$top_srcdir/packaging/debian/changelog"
check "kiln.spec has version $version" grep -qE "^Version: +$version\$" "$top_srcdir/packaging/rpm/kiln.spec"
check "the image bake script parses" bash -n "$top_srcdir/packaging/image/bake"

# make install: the reference list of files.
(unset MAKEFLAGS MFLAGS MAKELEVEL; make -C "$top_builddir" install DESTDIR="$T/inst" prefix=/usr sysconfdir=/etc \
	systemdsystemunitdir=/usr/lib/systemd/system) >"$T/install.log" 2>&1
ok $? "make install into a DESTDIR"
(cd "$T/inst" && find . -type f | sort) >"$T/install.files"

if command -v rpmbuild >/dev/null; then
	(unset MAKEFLAGS MFLAGS MAKELEVEL; mkdir -p "$top_builddir/pkg" && flock -w 600 "$top_builddir/pkg/.lock" make -C "$top_builddir" rpm PKG_CROSS_ARCHES=) >"$T/rpm.log" 2>&1
	ok $? "rpmbuild -bb on the make dist tarball (make rpm)"
	rpm=$(ls "$top_builddir"/pkg/RPMS/"$(rpm --eval %_arch)"/kiln-"$version"-*.rpm 2>/dev/null | head -1)
	# Man pages are compressed in the package, as rpm's brp-compress does.
	rpm -qlp "$rpm" 2>/dev/null | sed -E 's|^(/usr/share/man/.*)\.gz$|\1|' | sort >"$T/rpm.files"
	missing=$(sed 's|^\.||' "$T/install.files" | comm -23 - "$T/rpm.files")
	[ -n "$rpm" ] && [ -z "$missing" ]
	ok $? "the RPM holds every file make install installs"
	[ -z "$missing" ] || echo "$missing" | sed 's/^/#   missing: /'
	# (rpm's output to files first: grep -q would end the pipe early, and pipefail is on)
	rpm -qp --configfiles "$rpm" >"$T/rpm.config" 2>/dev/null
	grep -qx /etc/kiln/kiln.yaml "$T/rpm.config"
	ok $? "the RPM marks /etc/kiln/kiln.yaml as config"
	rpm -qp --scripts "$rpm" >"$T/rpm.scripts" 2>/dev/null
	grep -q 'preset kiln.service' "$T/rpm.scripts"
	ok $? "the RPM enables kiln.service on install (preset)"
	grep -qx /usr/lib/systemd/system-preset/80-kiln.preset "$T/rpm.files"
	ok $? "the RPM ships the preset that enables it"
else
	ok 1 "rpmbuild is installed (Debian package rpm)"
fi

if command -v packer >/dev/null; then
	packer validate -var package=/dev/null "$top_srcdir/packaging/packer/kiln.pkr.hcl" >"$T/packer.log" 2>&1
	ok $? "packer validate packaging/packer/kiln.pkr.hcl"
	[ $? = 0 ] || diag "$T/packer.log"
else
	ok 1 "packer is installed (Debian package packer)"
fi
grep -q 'kiln clean --logs --machine-id' "$top_srcdir/packaging/packer/kiln.pkr.hcl"
ok $? "the Packer template ends with kiln clean"

done_testing
