# The fake CloudWatch (tests/fakes/cloudwatch.py), checking every signature
# with botocore. Credentials are test values, also exported for kiln and
# the aws CLI. When the fake IMDS runs (start it first), the instance role
# credentials it hands out are accepted too, as AWS accepts a role's keys.
start_cloudwatch() {
	local ak=AKIDKILNLOCALEC2TEST sk=kiln-local-ec2-secret-key-for-tests-only
	local trust=()
	if [ -s "$DIR/imds.port" ]; then
		trust=(--trust-imds "http://127.0.0.1:$(cat "$DIR/imds.port")")
	fi
	rm -f "$DIR/cloudwatch.port"
	$PYTHON "$here/fakes/cloudwatch.py" --port 0 --port-file "$DIR/cloudwatch.port" \
		--region "${LOCAL_EC2_REGION:-us-east-1}" --access-key "$ak" --secret-key "$sk" "${trust[@]}" \
		>"$DIR/cloudwatch.log" 2>&1 &
	track_pid $!
	local port
	port=$(wait_port_file "$DIR/cloudwatch.port" $! cloudwatch)
	add_env LOCAL_EC2_CLOUDWATCH "http://127.0.0.1:$port"
	add_env AWS_ACCESS_KEY_ID "$ak"
	add_env AWS_SECRET_ACCESS_KEY "$sk"
	add_env AWS_REGION "${LOCAL_EC2_REGION:-us-east-1}"
}
