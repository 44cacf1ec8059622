# Packaging: the default config, Debian and RPM packages, the baked image.
# Included by the top Makefile.am.
#
#   make deb     dpkg-buildpackage -us -uc -b on the dist tarball  -> pkg/kiln_*.deb
#   make rpm     rpmbuild -bb on the dist tarball                   -> pkg/RPMS/*/kiln-*.rpm
#   make image   packaging/image/bake with pkg/kiln_*.deb           -> image/rootfs

kilnconfdir = $(sysconfdir)/kiln
dist_kilnconf_DATA = packaging/kiln.yaml

EXTRA_DIST += packaging/debian packaging/rpm packaging/image packaging/packer packaging/README.md

PKG_DIR = $(abs_top_builddir)/pkg
DEB_ARCH = $$(dpkg --print-architecture)

deb: dist-gzip
	rm -rf $(PKG_DIR)/deb && $(MKDIR_P) $(PKG_DIR)/deb
	tar -C $(PKG_DIR)/deb -xzf $(distdir).tar.gz
	cp -R $(srcdir)/packaging/debian $(PKG_DIR)/deb/$(distdir)/debian
	cd $(PKG_DIR)/deb/$(distdir) && dpkg-buildpackage -us -uc -b
	rm -f $(PKG_DIR)/kiln_*.deb && mv $(PKG_DIR)/deb/kiln_$(VERSION)*_$(DEB_ARCH).deb $(PKG_DIR)/
	@ls $(PKG_DIR)/kiln_*.deb

rpm: dist-gzip
	rm -rf $(PKG_DIR)/rpmbuild && $(MKDIR_P) $(PKG_DIR)/rpmbuild
	rpmbuild -bb $$(test -e /etc/debian_version && echo --nodeps) \
		--define "_topdir $(PKG_DIR)/rpmbuild" --define "_sourcedir $(abs_top_builddir)" \
		$(srcdir)/packaging/rpm/kiln.spec
	rm -rf $(PKG_DIR)/RPMS && mv $(PKG_DIR)/rpmbuild/RPMS $(PKG_DIR)/RPMS
	@ls $(PKG_DIR)/RPMS/*/kiln-*.rpm

image: deb
	$(srcdir)/packaging/image/bake --deb $$(ls $(PKG_DIR)/kiln_*.deb) $(abs_top_builddir)/image

.PHONY: deb rpm image

clean-local: clean-packaging
clean-packaging:
	rm -rf $(PKG_DIR)
.PHONY: clean-packaging

# The baked image booted under systemd-nspawn as an EC2 instance.
TESTS += tests/e2e/boot-nspawn.sh tests/e2e/bake-packaging.sh
EXTRA_DIST += tests/nspawn
