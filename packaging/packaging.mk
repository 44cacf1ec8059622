# Packaging: the default config, Debian and RPM packages, the baked image.
# Included by the top Makefile.am.
#
#   make deb     dpkg-buildpackage -us -uc -b [-aarm64] on the dist tarball -> pkg/kiln_*_{amd64,arm64}.deb
#   make rpm     rpmbuild -bb [--target aarch64] on the dist tarball       -> pkg/RPMS/{x86_64,aarch64}/kiln-*.rpm
#   make image   packaging/image/bake with pkg/kiln_*.deb           -> image/rootfs

kilnconfdir = $(sysconfdir)/kiln
dist_kilnconf_DATA = packaging/kiln.yaml

# Man pages, written at build time from the built kiln's own output
# (packaging/man/gen-man): they cannot drift from --help and the config
# schema. tests/e2e/man.sh checks them.
man_MANS = packaging/man/kiln.8 packaging/man/kiln.yaml.5
CLEANFILES += $(man_MANS)
EXTRA_DIST += packaging/man/gen-man packaging/man/kiln.8.sections tests/e2e/man.sh
TESTS += tests/e2e/man.sh
packaging/man/kiln.8: kiln$(EXEEXT) $(srcdir)/packaging/man/gen-man $(srcdir)/packaging/man/kiln.8.sections
	$(AM_V_GEN)$(MKDIR_P) packaging/man && \
	$(SHELL) $(srcdir)/packaging/man/gen-man kiln.8 "$(KILN_HOST_RUN) ./kiln$(EXEEXT)" \
		$(srcdir)/packaging/man/kiln.8.sections >$@.tmp && mv $@.tmp $@
packaging/man/kiln.yaml.5: kiln$(EXEEXT) $(srcdir)/packaging/man/gen-man
	$(AM_V_GEN)$(MKDIR_P) packaging/man && \
	$(SHELL) $(srcdir)/packaging/man/gen-man kiln.yaml.5 "$(KILN_HOST_RUN) ./kiln$(EXEEXT)" >$@.tmp && mv $@.tmp $@

# Bash completion: commands and options asked of kiln itself at completion
# time, site names from `kiln certs --json`.
bashcompletiondir = $(datadir)/bash-completion/completions
dist_bashcompletion_DATA = packaging/completion/kiln

EXTRA_DIST += packaging/debian packaging/rpm packaging/image packaging/packer packaging/README.md

PKG_DIR = $(abs_top_builddir)/pkg
DEB_ARCH = $$(dpkg --print-architecture)
# Architectures `make deb` and `make rpm` build besides the machine's own:
# arm64 (Graviton), cross-built with Debian's crossbuild-essential-arm64 and
# the :arm64 -dev packages (dev/deps installs them). `make deb
# PKG_CROSS_ARCHES=` builds the native package only.
PKG_CROSS_ARCHES = arm64
# The native architecture first, then each other one of PKG_CROSS_ARCHES.
pkg_arches = $$(echo $(DEB_ARCH) $(PKG_CROSS_ARCHES) | tr ' ' '\n' | awk 'NF && !seen[$$0]++')
PKG_RPMBUILD = rpmbuild -bb $$(test -e /etc/debian_version && echo --nodeps) \
	--define "_topdir $(PKG_DIR)/rpmbuild" --define "_sourcedir $(abs_top_builddir)" \
	--define "packager kiln maintainers <kiln-project@users.noreply.github.com>"

#   pkg/kiln_VERSION_ARCH.deb for the native architecture and each of
#   PKG_CROSS_ARCHES (Debian's naming: kiln_0.1.0_arm64.deb).
deb: dist-gzip
	rm -rf $(PKG_DIR)/deb && $(MKDIR_P) $(PKG_DIR)/deb
	rm -f $(PKG_DIR)/kiln_*.deb
	set -e; native=$(DEB_ARCH); for arch in $(pkg_arches); do \
		$(MKDIR_P) $(PKG_DIR)/deb/$$arch; \
		tar -C $(PKG_DIR)/deb/$$arch -xzf $(distdir).tar.gz; \
		cp -R $(srcdir)/packaging/debian $(PKG_DIR)/deb/$$arch/$(distdir)/debian; \
		(cd $(PKG_DIR)/deb/$$arch/$(distdir) && \
		 dpkg-buildpackage -us -uc -b $$([ $$arch = $$native ] || echo -a$$arch)); \
		mv $(PKG_DIR)/deb/$$arch/kiln_$(VERSION)*_$$arch.deb $(PKG_DIR)/; \
	done
	@ls $(PKG_DIR)/kiln_*.deb

#   pkg/RPMS/ARCH/kiln-VERSION-1.ARCH.rpm, native and cross (arm64:
#   rpmbuild --target aarch64, %configure --host=aarch64-linux-gnu, the
#   cross binutils to strip). Debian's rpm has no database of the build
#   dependencies: --nodeps there.
rpm: dist-gzip
	rm -rf $(PKG_DIR)/rpmbuild $(PKG_DIR)/RPMS && $(MKDIR_P) $(PKG_DIR)/rpmbuild
	set -e; native=$(DEB_ARCH); for arch in $(pkg_arches); do \
		if [ $$arch = $$native ]; then $(PKG_RPMBUILD) $(srcdir)/packaging/rpm/kiln.spec; continue; fi; \
		triplet=$$(dpkg-architecture -a$$arch -qDEB_HOST_GNU_TYPE 2>/dev/null); \
		case $$arch in arm64) rpmarch=aarch64;; amd64) rpmarch=x86_64;; *) rpmarch=$$arch;; esac; \
		$(PKG_RPMBUILD) --target $$rpmarch --define "_host $$triplet" \
			--define "_build $$(dpkg-architecture -qDEB_BUILD_GNU_TYPE 2>/dev/null)" \
			--define "__strip $$triplet-strip" --define "__objdump $$triplet-objdump" \
			$(srcdir)/packaging/rpm/kiln.spec; \
	done
	mv $(PKG_DIR)/rpmbuild/RPMS $(PKG_DIR)/RPMS
	@ls $(PKG_DIR)/RPMS/*/kiln-*.rpm

image: deb
	$(srcdir)/packaging/image/bake --deb $(PKG_DIR)/kiln_$(VERSION)_$(DEB_ARCH).deb $(abs_top_builddir)/image

# The same image for Graviton: needs binfmt_misc with qemu-aarch64 (bake
# says so when the machine has none).
image-arm64: deb
	$(srcdir)/packaging/image/bake --arch arm64 --deb $(PKG_DIR)/kiln_$(VERSION)_arm64.deb $(abs_top_builddir)/image-arm64

.PHONY: deb rpm image image-arm64

clean-local: clean-packaging
clean-packaging:
	rm -rf $(PKG_DIR)
.PHONY: clean-packaging

# The baked image booted under systemd-nspawn as an EC2 instance
# (tests/e2e/boot-nspawn.sh), the packages' contents (bake-packaging.sh,
# packages-arch.sh): in TESTS from Makefile.am, where the slow tests go first.
EXTRA_DIST += tests/nspawn tests/e2e/packages-arch.sh
