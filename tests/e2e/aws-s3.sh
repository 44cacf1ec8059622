#!/bin/bash
# kiln's S3 client (modules/aws/s3.c) through `kiln debug s3`, against
# moto's server with its IAM auth on (signatures checked; the kiln user may
# touch only the test bucket's objects): round trip, server-side encryption
# as stored, conditional PUT and DELETE, ListObjectsV2 pages, a wrong
# secret, path-style addressing, 20 racing If-None-Match PUTs; and a bucket
# in another region (a fake S3, tests/fakes/s3-redirect.py: moto does not
# redirect) followed and signed for, as botocore checks.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
# shellcheck source=tests/e2e/aws-lib.bash
. "$top_srcdir/tests/e2e/aws-lib.bash"

moto_available || { echo "Bail out! moto is not installed for $MOTO_PYTHON (see dev/deps)"; exit 1; }
moto_start main || { echo "Bail out! moto did not start"; exit 1; }
B=$MOTO_BUCKET
aws_bucket "$B" >/dev/null
ok $? "a bucket in moto"
s3() { kiln debug s3 "$@"; }

# --- round trip, encryption, path-style
printf 'secret key\nline 2\n' | s3 put "s3://$B/fleet/acct key.json" >"$T/etag" 2>"$T/err"
ok $? "put"
grep -qE '^"[0-9a-f]{32}"$' "$T/etag"
ok $? "put prints the new ETag ($(cat "$T/etag"))"
s3 get "s3://$B/fleet/acct key.json" >"$T/got" 2>"$T/err"
ok $? "get"
printf 'secret key\nline 2\n' | cmp -s - "$T/got"
ok $? "get returns the bytes put"
[ "$(s3 get --etag "s3://$B/fleet/acct key.json")" = "$(cat "$T/etag")" ]
ok $? "get --etag gives the put's ETag"
aws_head "$B" "fleet/acct key.json" >"$T/head.json"
$PYTHON -c 'import json,sys; h=json.load(open(sys.argv[1])); assert h["x-amz-server-side-encryption"]=="AES256", h' "$T/head.json"
ok $? "stored with x-amz-server-side-encryption AES256 (head-object)"
echo k | s3 put --kms-key-id alias/kiln-fleet "s3://$B/fleet/kms" >/dev/null 2>"$T/err"
ok $? "put with a KMS key"
aws_head "$B" fleet/kms >"$T/head.json"
$PYTHON -c '
import json,sys
h=json.load(open(sys.argv[1]))
assert h["x-amz-server-side-encryption"]=="aws:kms", h
assert h["x-amz-server-side-encryption-aws-kms-key-id"].endswith("alias/kiln-fleet"), h' "$T/head.json"
ok $? "stored with aws:kms and the key id"
[ "$(moto_count main method=PUT "path=/$B/fleet/acct key.json" "key=$AWS_ACCESS_KEY_ID" status=200)" = 1 ]
ok $? "path-style: the request went to /BUCKET/KEY (and the key's space, encoded once, is a space in S3)"
moto_count main "path=/$B/*" "key=$AWS_ACCESS_KEY_ID" >"$T/n"
[ "$(moto_count main "key=$AWS_ACCESS_KEY_ID")" = "$(cat "$T/n")" ]
ok $? "every kiln request was path-style"

# --- a key with characters SigV4 for S3 must not normalize or encode twice
echo odd | s3 put "s3://$B/fleet/a+b=c/./x~(1)/é" >/dev/null 2>"$T/err"
ok $? "put a key with '+', '=', '.', '~', '(' and UTF-8 (signature accepted)"
[ "$(s3 get "s3://$B/fleet/a+b=c/./x~(1)/é")" = odd ]
ok $? "and get it back"
aws_objects "$B" fleet/a+b=c/ | grep -qF 'fleet/a+b=c/./x~(1)/é '
ok $? "stored under the key as written"

# --- conditions
old=$(cat "$T/etag")
echo again | s3 put --if-absent "s3://$B/fleet/acct key.json" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 3 ] && grep -q 'File exists.*412 PreconditionFailed' "$T/err"
ok $? "If-None-Match on an existing key: EEXIST (exit $rc)"
echo new | s3 put --if-absent "s3://$B/fleet/lock" >"$T/lock-etag" 2>"$T/err"
ok $? "If-None-Match on a new key: created"
echo v2 | s3 put --if-match "$old" "s3://$B/fleet/acct key.json" >"$T/etag2" 2>"$T/err"
ok $? "If-Match with the current ETag: replaced"
echo v3 | s3 put --if-match "$old" "s3://$B/fleet/acct key.json" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 4 ] && grep -q 'Stale file handle.*412' "$T/err"
ok $? "If-Match with a stale ETag: ESTALE (exit $rc)"
[ "$(s3 get "s3://$B/fleet/acct key.json")" = v2 ]
ok $? "the stale write changed nothing"
s3 delete --if-match "$old" "s3://$B/fleet/acct key.json" 2>"$T/err"
rc=$?
[ $rc -eq 4 ]
ok $? "delete If-Match with a stale ETag: ESTALE (exit $rc)"
s3 delete --if-match "$(cat "$T/etag2")" "s3://$B/fleet/acct key.json" 2>"$T/err"
ok $? "delete If-Match with the current ETag"
s3 get "s3://$B/fleet/acct key.json" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 2 ] && grep -q 'No such file.*404 NoSuchKey' "$T/err"
ok $? "gone: get is ENOENT (exit $rc)"
s3 delete "s3://$B/fleet/acct key.json" 2>"$T/err"
ok $? "deleting a missing key is done"

# --- 20 racing If-None-Match PUTs: exactly one wins (the fleet lock's premise)
pids=()
for i in $(seq 20); do
	(echo "$i" | timeout 60 "$KILN" --root "$ROOT" debug s3 put --if-absent "s3://$B/fleet/race" \
		>"$T/race.$i.out" 2>"$T/race.$i.err"
	echo $? >"$T/race.$i.rc") &
	pids+=($!)
done
wait "${pids[@]}"
won=$(grep -lx 0 "$T"/race.*.rc | wc -l)
lost=$(grep -lxE '3|5' "$T"/race.*.rc | wc -l)
[ "$won" = 1 ] && [ "$lost" = 19 ]
ok $? "20 concurrent If-None-Match PUTs: one created the key, 19 were refused ($won won, $lost lost)"
[ "$won" = 1 ] || diag <(cat "$T"/race.*.rc "$T"/race.*.err | sort | uniq -c)
winner=$(grep -lx 0 "$T"/race.*.rc | head -1 | sed 's/.*race\.\([0-9]*\)\.rc/\1/')
[ -n "$winner" ] && [ "$(s3 get "s3://$B/fleet/race")" = "$winner" ]
ok $? "the object is the winner's"

# --- listing: pages, the prefix, more than S3's 1000 a page
for i in $(seq 7); do echo "$i" | s3 put "s3://$B/few/k$i" >/dev/null || break; done
echo x | s3 put "s3://$B/fewer/k" >/dev/null
before=$(moto_count main op=LIST "key=$AWS_ACCESS_KEY_ID")
s3 list --page-size 3 "s3://$B/few" >"$T/list" 2>"$T/err"
ok $? "list with 3 keys a page"
[ "$(cat "$T/list")" = "$(printf 'few/k%s\n' 1 2 3 4 5 6 7)" ]
ok $? "every key under few/ (and not fewer/), in order"
[ $(($(moto_count main op=LIST "key=$AWS_ACCESS_KEY_ID") - before)) = 3 ]
ok $? "in 3 requests"
moto_requests | grep -q '"query": "continuation-token=[^"]*&list-type=2&max-keys=3&prefix=few%2F"'
ok $? "the continuation token is sent back, encoded"
[ "$(s3 list --max-keys 4 --page-size 3 "s3://$B/few" | wc -l)" = 4 ]
ok $? "--max-keys caps the listing"
read -r akey asecret < <(moto_creds main admin)
$PYTHON - "${MOTO_URL[main]}" "$akey" "$asecret" "$B" <<'EOF'
import sys
import botocore.session
from botocore.config import Config
url, key, secret, bucket = sys.argv[1:5]
c = botocore.session.get_session().create_client(
    "s3", region_name="us-east-1", endpoint_url=url, aws_access_key_id=key, aws_secret_access_key=secret,
    config=Config(s3={"addressing_style": "path"}, max_pool_connections=4))
for i in range(1003):
    c.put_object(Bucket=bucket, Key=f"many/{i:05d}", Body=b"x")
EOF
ok $? "1003 keys under many/ (botocore as the admin)"
before=$(moto_count main op=LIST "key=$AWS_ACCESS_KEY_ID")
s3 list "s3://$B/many/" >"$T/list" 2>"$T/err"
ok $? "list more than 1000 keys"
[ "$(wc -l <"$T/list")" = 1003 ] && [ "$(sort -u "$T/list" | wc -l)" = 1003 ]
ok $? "all 1003, each once ($(wc -l <"$T/list"))"
[ $(($(moto_count main op=LIST "key=$AWS_ACCESS_KEY_ID") - before)) = 2 ]
ok $? "in 2 pages"

# --- denied, and no secret in what is said
echo z | AWS_SECRET_ACCESS_KEY=wRoNgSeCrEtKeY0123456789abcdefghij s3 put "s3://$B/fleet/x" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 6 ] && grep -q 'Permission denied.*403 SignatureDoesNotMatch' "$T/err"
ok $? "a wrong secret: EACCES, SignatureDoesNotMatch (exit $rc)"
! grep -q 'wRoNgSeCrEtKeY' "$T/err" && ! grep -qF "$AWS_SECRET_ACCESS_KEY" "$T/err"
ok $? "the message holds no secret"
AWS_SECRET_ACCESS_KEY=wRoNgSeCrEtKeY0123456789abcdefghij s3 list "s3://$B/few" >/dev/null 2>&1
[ $? -eq 6 ]
ok $? "a wrong secret on a list with a prefix is refused too"
s3 get "s3://other-bucket/x" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 6 ] && grep -q '403 AccessDenied' "$T/err"
ok $? "a bucket outside the user's policy: EACCES (exit $rc)"
s3 get "s3://Bad_Bucket/x" >/dev/null 2>"$T/err"
[ $? -eq 64 ] && grep -q 'lower-case' "$T/err"
ok $? "a bad bucket name is a usage error, with the reason"

# --- a bucket in another region (fake S3: moto does not redirect)
fake_s3() { # fake_s3 MODE: starts it, sets FAKE_URL and FAKE_LOG
	local dir=$T/fake-$1 pid
	mkdir -p "$dir"
	FAKE_LOG=$dir/requests.log
	$PYTHON "$top_srcdir/tests/fakes/s3-redirect.py" --port-file "$dir/port" --log "$FAKE_LOG" \
		--region eu-west-2 --secret "$AWS_SECRET_ACCESS_KEY" --mode "$1" 2>"$dir/err" &
	pid=$!
	track "$pid"
	for _ in $(seq 100); do
		[ -s "$dir/port" ] && break
		sleep 0.1
	done
	FAKE_URL=http://127.0.0.1:$(cat "$dir/port")
}
fake_regions() { $PYTHON -c 'import json,sys; print(" ".join("%s:%s" % (e["region"], e["status"]) for e in map(json.loads, open(sys.argv[1]))))' "$FAKE_LOG"; }
for mode in header body; do
	fake_s3 $mode
	AWS_ENDPOINT_URL_S3=$FAKE_URL AWS_REGION=us-east-1 kiln -v debug s3 get s3://far-bucket/a/k >"$T/got" 2>"$T/err"
	ok $? "$mode: a bucket in eu-west-2 asked in us-east-1: get succeeds"
	[ "$(cat "$T/got")" = "object a/k" ]
	ok $? "$mode: with the object"
	[ "$(fake_regions)" = "us-east-1:$([ $mode = header ] && echo 301 || echo 400) eu-west-2:200" ]
	ok $? "$mode: redirected once, then signed for eu-west-2, and botocore accepts the signature ($(fake_regions))"
	: >"$FAKE_LOG"
	AWS_ENDPOINT_URL_S3=$FAKE_URL AWS_REGION=us-east-1 kiln -v debug s3 list s3://far-bucket/p >"$T/list" 2>"$T/err"
	ok $? "$mode: a list of 2 pages there"
	[ "$(cat "$T/list")" = "$(printf 'p/1\np/2')" ]
	ok $? "$mode: both pages' keys"
	[ "$(fake_regions)" = "us-east-1:$([ $mode = header ] && echo 301 || echo 400) eu-west-2:200 eu-west-2:200" ]
	ok $? "$mode: the region is remembered for the next page ($(fake_regions))"
done
: >"$FAKE_LOG"
AWS_ENDPOINT_URL_S3=$FAKE_URL AWS_REGION=eu-west-2 AWS_SECRET_ACCESS_KEY=wRoNgSeCrEtKeY0123456789abcdefghij \
	kiln debug s3 get s3://far-bucket/a/k >/dev/null 2>&1
[ $? -eq 6 ] && [ "$(fake_regions)" = "eu-west-2:403" ]
ok $? "the fake checks signatures: a wrong secret is refused"

done_testing
