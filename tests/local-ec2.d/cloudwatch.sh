# The fake CloudWatch (tests/fakes/cloudwatch.py), checking every signature
# with botocore. Credentials are test values, also exported for kiln and
# the aws CLI.
start_cloudwatch() {
	local ak=AKIDKILNLOCALEC2TEST sk=kiln-local-ec2-secret-key-for-tests-only
	rm -f "$DIR/cloudwatch.port"
	$PYTHON "$here/fakes/cloudwatch.py" --port 0 --port-file "$DIR/cloudwatch.port" \
		--region "${LOCAL_EC2_REGION:-us-east-1}" --access-key "$ak" --secret-key "$sk" \
		>"$DIR/cloudwatch.log" 2>&1 &
	track_pid $!
	local port
	port=$(wait_port_file "$DIR/cloudwatch.port" $! cloudwatch)
	add_env LOCAL_EC2_CLOUDWATCH "http://127.0.0.1:$port"
	add_env AWS_ACCESS_KEY_ID "$ak"
	add_env AWS_SECRET_ACCESS_KEY "$sk"
	add_env AWS_REGION "${LOCAL_EC2_REGION:-us-east-1}"
}
