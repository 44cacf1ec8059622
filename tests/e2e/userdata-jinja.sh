#!/bin/bash
# "## template: jinja" user-data rendered with the instance data kiln
# crawls from the (fake) IMDS at boot, as cloud-init renders it: a jinja
# cloud-config and a jinja script see v1.* and ds.meta_data.* of this
# instance; an undefined variable prints CI_MISSING_JINJA_VAR/NAME with a
# warning; a template that does not parse is skipped with its line and
# column while the other parts run; the crawl is bounded and never reads
# the role's credentials.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/data/userdata/root.sh"

make_root "$ROOT"
start_ec2 imds
OUT=$T/out
mkdir -p "$OUT"
requests() { curl -sf "$LOCAL_EC2_IMDS/_fake/requests"; }
count_requests() { # count_requests PYTHON-CONDITION-ON-p
	requests | $PYTHON -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if eval(sys.argv[1], {"p": r["path"]})))' "$1"
}

# Values no default has: a test that passes on defaults or example data fails.
imds_data '{"instance_id": "i-0jinja0000000001", "region": "eu-west-3", "az": "eu-west-3c",
	"instance_type": "m7g.large", "local_ipv4": "10.1.2.3", "role": "jinja-role",
	"tags": {"Name": "jinja-node"}, "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJinjaKey000000000000000000000000000000 jinja@key"}'

user_data <<EOF2
Content-Type: multipart/mixed; boundary="JJ"
MIME-Version: 1.0

--JJ
Content-Type: text/plain; charset="us-ascii"

## template: jinja
#cloud-config
write_files:
  - path: /etc/jinja/facts.txt
    content: |
      id={{ v1.instance_id }}
      region={{ v1.region }}
      az={{ v1.availability_zone }}
      host={{ v1.local_hostname }}
      type={{ ds.meta_data.instance_type }}
      type-dashed={{ ds.meta_data['instance-type'] }}
      cloud={{ v1.cloud_name }}/{{ v1.platform }}
      tag={{ ds.meta_data.tags.instance.Name }}
      keys={{ v1.public_ssh_keys | length }}
{% if v1.region == 'eu-west-3' %}
      branch=paris
{% elif v1.region == 'us-east-1' %}
      branch=virginia
{% else %}
      branch=other
{% endif %}
runcmd:
  - echo "runcmd on {{ v1.instance_id }} in {{ v1.availability_zone }}" > $OUT/runcmd.txt
--JJ
Content-Type: text/x-shellscript; charset="us-ascii"

## template: jinja
#!/bin/sh
echo "script {{ instance_id }} {{ region }} {{ ds.meta_data.placement['availability-zone'] }}" > $OUT/script.txt
{% if v1.region == "eu-west-3" %}
echo paris > $OUT/script-branch.txt
{% else %}
echo elsewhere > $OUT/script-branch.txt
{% endif %}
echo "ip {{ ds.meta_data.local_ipv4 }} mac {{ ds.meta_data.mac }}" >> $OUT/script.txt
--JJ
Content-Type: text/x-shellscript; charset="us-ascii"

## template: jinja
#!/bin/sh
echo "undefined: {{ no_such_variable }} {{ v1.no_such_key }}" > $OUT/undefined.txt
--JJ
Content-Type: text/x-shellscript; charset="us-ascii"

## template: jinja
#!/bin/sh
echo broken-ran > $OUT/broken.txt
{% if v1.region == %}
echo never
{% endif %}
--JJ
Content-Type: text/x-shellscript; charset="us-ascii"

#!/bin/sh
echo plain-ran > $OUT/plain.txt
--JJ--
EOF2

kiln boot >"$T/boot1.log" 2>&1
rc=$?
ok $([ $rc -eq 1 ]; echo $?) "a jinja part that does not parse makes the boot an error, as other broken parts do (exit $rc)"
diag "$T/boot1.log" | grep -iE 'jinja|warn|error|fail|instance data' | head -20

f=$ROOT/etc/jinja/facts.txt
check "cloud-config: v1.instance_id is this instance's" grep -qx 'id=i-0jinja0000000001' "$f"
check "cloud-config: v1.region" grep -qx 'region=eu-west-3' "$f"
check "cloud-config: v1.availability_zone" grep -qx 'az=eu-west-3c' "$f"
check "cloud-config: v1.local_hostname is the first label of local-hostname" grep -qx 'host=ip-10-1-2-3' "$f"
check "cloud-config: ds.meta_data.instance_type" grep -qx 'type=m7g.large' "$f"
check "cloud-config: ds.meta_data['instance-type']" grep -qx 'type-dashed=m7g.large' "$f"
check "cloud-config: v1.cloud_name and v1.platform" grep -qx 'cloud=aws/ec2' "$f"
check "cloud-config: instance tags crawled" grep -qx 'tag=jinja-node' "$f"
check "cloud-config: the key pair is in v1.public_ssh_keys" grep -qx 'keys=1' "$f"
check "cloud-config: the if branch for the region taken" grep -qx 'branch=paris' "$f"
check "cloud-config: the other branches not" sh -c "! grep -qE 'branch=(virginia|other)' '$f'"
check "cloud-config: runcmd rendered and ran" grep -qx 'runcmd on i-0jinja0000000001 in eu-west-3c' "$OUT/runcmd.txt"
check "script: top-level copies of v1 keys and ds.meta_data.placement" \
	grep -qx 'script i-0jinja0000000001 eu-west-3 eu-west-3c' "$OUT/script.txt"
check "script: local_ipv4 and mac" grep -qx 'ip 10.1.2.3 mac 0e:12:34:56:78:9a' "$OUT/script.txt"
check "script: if on the region, with whitespace control" grep -qx paris "$OUT/script-branch.txt"
check "undefined variables print CI_MISSING_JINJA_VAR/NAME" \
	grep -qx 'undefined: CI_MISSING_JINJA_VAR/no_such_variable CI_MISSING_JINJA_VAR/no_such_key' "$OUT/undefined.txt"
check "... with a warning naming them" grep -qE "warn.*undefined variable.*'no_such_variable'" "$T/boot1.log"
check "a template that does not parse is not run" test ! -e "$OUT/broken.txt"
line=$(grep -n '^{% if v1.region == %}$' "$EC2/user-data" | cut -d: -f1)
check "... its error gives the line and column in the user-data" \
	grep -q "error: user-data:$line:20: part 4: jinja template: expected an expression; skipping the part" "$T/boot1.log"
check "no other error or warning" test "$(grep -cE '(error|warning): ' "$T/boot1.log")" = 2
check "the plain script next to it ran" grep -qx plain-ran "$OUT/plain.txt"

# The crawl: bounded, and never the role's credentials.
requests >"$T/requests1.json"
crawl=$(count_requests '"/meta-data/" in p or "/dynamic/" in p')
diag <<<"IMDS requests for meta-data and dynamic: $crawl"
ok $([ "$crawl" -ge 20 ] && [ "$crawl" -le 150 ]; echo $?) "the crawl reads the tree, within bounds ($crawl requests)"
check "the crawl never reads iam/security-credentials" test "$(count_requests '"security-credentials" in p')" = 0
check "kiln logs the crawl" grep -q 'Instance data for jinja templates crawled from IMDS' "$T/boot1.log"

# IMDS failing under part of the tree (always 503, or hanging): the crawl
# gives up on each path after a few retries and on the whole after a
# bound, renders with the rest, and the boot is degraded saying so.
user_data <<EOF2
## template: jinja
#!/bin/sh
echo "{{ v1.instance_id }} {{ v1.region }} {{ ds.meta_data.network }}" > $OUT/faulty.txt
EOF2
imds_data '{"instance_id": "i-0jinja0000000002"}'
imds_faults '{"paths": {"/latest/meta-data/network/*": {"status": 503, "count": -1},
	"/latest/meta-data/events/*": {"status": 500, "count": -1},
	"/latest/meta-data/services/*": {"hang_ms": 8000, "count": -1},
	"/latest/meta-data/iam/*": {"status": 503, "count": -1},
	"/latest/meta-data/tags/*": {"status": 503, "count": -1}}}'
start=$(date +%s)
timeout 300 "$KILN" --root "$ROOT" boot >"$T/boot2.log" 2>&1
rc=$?
took=$(($(date +%s) - start))
imds_faults '{"paths": {}}'
diag "$T/boot2.log" | grep -iE 'jinja|warn|error|fail|instance data|boot' | head -20
ok $([ $took -le 40 ]; echo $?) "failing subtrees hold the boot within the crawl's bound (${took}s, not imds.timeout each)"
ok $([ $rc -eq 2 ]; echo $?) "... the boot is degraded (exit $rc)"
check "... with a warning naming what was not read" \
	grep -qE "warning: user-data:1:1: the instance data is incomplete: [0-9]+ IMDS path\(s\) not read \(meta-data/" "$T/boot2.log"
check "the template rendered with what was crawled" grep -q '^i-0jinja0000000002 eu-west-3 ' "$OUT/faulty.txt"
check "still no credentials read" test "$(count_requests '"security-credentials" in p')" = 0

# No meta-data at all (the listing fails): the template is an error that says why.
user_data <<EOF2
## template: jinja
#!/bin/sh
echo "{{ v1.instance_id }}" > $OUT/nometa.txt
EOF2
imds_faults '{"paths": {"/latest/meta-data/": {"status": 503, "count": -1}}}'
timeout 300 "$KILN" --root "$ROOT" boot >"$T/boot3.log" 2>&1
rc=$?
imds_faults '{"paths": {}}'
diag "$T/boot3.log" | grep -iE 'jinja|warn|error' | head
ok $([ $rc -eq 1 ]; echo $?) "no meta-data: the boot is an error (exit $rc)"
check "... naming the template and why" grep -q "error: user-data:1:1: a jinja template, and no instance data to render it with (IMDS gave no meta-data (meta-data/: IMDS at .* answered 503" "$T/boot3.log"
check "... and the script did not run" test ! -e "$OUT/nometa.txt"

done_testing
