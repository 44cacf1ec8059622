/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "context.h"

/* The instance module: what an image relied on cloud-init for besides
 * user-data (cloud-init's growpart, resizefs, ssh, mounts and
 * keys-to-console modules), so an image can have cloud-init removed.
 * Paths are as on the instance and go through root_path(); devices, /proc
 * and /sys are the machine's own. */

/* SSH host keys (cloud-init's cc_ssh): with ssh_deletekeys (default true)
 * /etc/ssh/ssh_host_*key* are deleted; then the keys ssh_keys gives are
 * written (a certificate also named by HostCertificate in sshd's config),
 * or, without ssh_keys, for each of ssh_genkeytypes
 * (default rsa, ecdsa, ed25519) whose key is missing one is made with
 * `ssh-keygen -t TYPE -N '' -f /etc/ssh/ssh_host_TYPE_key`. Errors (one
 * message per failed step) go to *ret_errors. Returns the number of keys
 * made, or a negative errno when nothing could be done. */
int hostkeys_regenerate(const json_t *config, char ***ret_errors);

/* The block cloud-init's write-ssh-key-fingerprints writes to the console:
 * the fingerprints (`ssh-keygen -l`) of /etc/ssh/ssh_host_*key.pub between
 * -----BEGIN/END SSH HOST KEY FINGERPRINTS----- as logger(1) -s prints them,
 * then the public keys between -----BEGIN/END SSH HOST KEY KEYS-----.
 * Keys whose type (ssh-rsa, ssh-dss, ...) ssh_fp_console_blacklist
 * (default none) or ssh_key_console_blacklist (default ssh-dss) lists are
 * left out of the block. Empty (and 0) when there is nothing to show. */
int hostkeys_console_text(const json_t *config, char **ret);

/* Grows the partitions under config's growpart.devices (default ["/"]: mount
 * points, under the root, or /dev nodes) with cloud-guest-utils' growpart,
 * then, with resize_rootfs (default true), the root file system (resize2fs,
 * xfs_growfs, btrfs filesystem resize), at every boot as cloud-init does.
 * Records each device in the running stage; returns what a boot step returns. */
int growpart_boot(struct kiln_context *ctx);

/* Where a mount point's file system is, from /proc/self/mountinfo (the last
 * mount on that exact path). -ENOENT when path is not a mount point. */
struct mount_info {
        dev_t dev;
        char *fstype;
        char *fsroot; /* the directory of the file system mounted: "/" unless a bind mount */
};
int growpart_find_mount(const char *mountinfo, const char *path, struct mount_info *ret);
void mount_info_done(struct mount_info *m);

/* Instance store (cloud-init's default mounts on EC2): the device IMDS's
 * block-device-mapping/ephemeral0 names ("sdb": /dev/sdb, else /dev/vdb,
 * /dev/xvdb, /dev/vtbb; its first partition when it has one) gets the
 * /etc/fstab line
 *   DEVICE /mnt auto defaults,nofail,comment=cloudconfig 0 2
 * (lines of a previous instance with comment=cloudconfig replaced, none
 * added when the device already has a line of its own) and is mounted.
 * Once per instance. */
int mounts_boot(struct kiln_context *ctx);

/* The new /etc/fstab: old's lines without comment=cloudconfig (a previous
 * instance's), then line, unless a kept line already has device as its
 * first field (then *ret_has_own). */
int mounts_fstab(const char *old, const char *device, const char *line, char **ret, bool *ret_has_own);
