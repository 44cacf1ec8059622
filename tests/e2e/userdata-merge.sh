#!/bin/bash
# Several #cloud-config parts booted as cloud-init merges them: the merging
# docs' example (each part's merge_how joins the runcmd lists), a
# Merge-Type header, and the default (a later part's key replaces).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds
OUT=$T/out
mkdir -p "$OUT"

user_data <<EOF2
Content-Type: multipart/mixed; boundary="b"
MIME-Version: 1.0

--b
Content-Type: text/cloud-config

#cloud-config
merge_how:
 - name: list
   settings: [append]
 - name: dict
   settings: [no_replace, recurse_list]
runcmd:
  - echo bash1 >> $OUT/run.log
  - echo bash2 >> $OUT/run.log
write_files:
  - path: /etc/first.txt
    content: first
--b
Content-Type: text/cloud-config

#cloud-config
merge_how:
 - name: list
   settings: [append]
 - name: dict
   settings: [no_replace, recurse_list]
runcmd:
  - echo bash3 >> $OUT/run.log
  - echo bash4 >> $OUT/run.log
--b
Content-Type: text/cloud-config
Merge-Type: list(append)+dict(recurse_array)+str()

#cloud-config
runcmd:
  - echo bash5 >> $OUT/run.log
--b
Content-Type: text/cloud-config

#cloud-config
write_files:
  - path: /etc/second.txt
    content: second
--b--
EOF2
kiln boot >"$T/boot.log" 2>&1
rc=$?
ok $([ $rc -eq 0 ]; echo $?) "boot is done (exit $rc)"
diag "$T/boot.log" | grep -iE 'merge|warn|error' | head
check "runcmd lists joined by merge_how and Merge-Type, in order" \
	diff "$OUT/run.log" <(printf 'bash1\nbash2\nbash3\nbash4\nbash5\n')
check "a part without merge_how replaces write_files (cloud-init's default)" \
	sh -c "test -e '$ROOT/etc/second.txt' && test ! -e '$ROOT/etc/first.txt'"
done_testing
