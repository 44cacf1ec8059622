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
 * made, or a negative errno when nothing could be done. Unless
 * ssh_quiet_keygen, *ret_shown (when not NULL) gets what ssh-keygen
 * printed (NULL when nothing), for the console as cloud-init shows it. */
int hostkeys_regenerate(const json_t *config, char ***ret_errors, char ***ret_warnings, char **ret_shown);

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

/* cloud-init's mounts module, once per instance: the `mounts` entries
 * (each device named as cloud-init names it: ephemeralN, swap and ebsN
 * from IMDS's block-device-mapping, sdb as /dev/sdb or the kernel's vdb,
 * xvdb; its first partition; else as written), the defaults (ephemeral0
 * at /mnt, the mapping's swap device) that no entry and no fstab line
 * has, fields left out taken from mount_default_fields
 * ([None, None, auto, "defaults,nofail", 0, 2]), and the `swap` file,
 * written to /etc/fstab with comment=cloudconfig (the previous instance's
 * such lines replaced), then mounted. */
int mounts_boot(struct kiln_context *ctx);

/* /etc/fstab's lines: those with comment=cloudconfig (cloud-init's or
 * kiln's, from a previous instance) and the others. */
int mounts_fstab_split(const char *old, char ***ret_kept, char ***ret_removed);
/* cloud-init's human2bytes ("10M", ".5G", "2GB") and suggested_swapsize
 * (maxsize < 0: none given). */
int mounts_human2bytes(const char *s, double *ret);
double mounts_suggested_swapsize(double memsize, double maxsize, double avail);

/* DataSourceEc2.device_name_to_device(): ephemeral0, swap, ebsN... from
 * IMDS's block-device-mapping to a /dev node; NULL when there is none, or
 * when IMDS did not answer within a few seconds (then a warning says so:
 * disk_setup's, the boot degraded). */
char *mounts_bdm_device(struct kiln_context *ctx, const char *name);

/* cloud-init's disk_setup and fs_setup (cc_disk_setup), once per instance,
 * before the mounts: partition tables (mbr, gpt: sfdisk) and file systems
 * (mkfs.TYPE or a cmd), a disk or file system already there left alone
 * unless overwrite. Returns what a boot step returns. */
int disk_setup_boot(struct kiln_context *ctx);
