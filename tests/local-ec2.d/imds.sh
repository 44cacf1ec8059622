# The fake IMDS (tests/fakes/imds.py). Instance data can be set with
# LOCAL_EC2_INSTANCE_ID, LOCAL_EC2_USER_DATA (a file), LOCAL_EC2_PUBLIC_KEY
# LOCAL_EC2_ROLE and LOCAL_EC2_CRED_TTL (seconds the role's credentials
# last); tests change it at run time through /_fake/data.
start_imds() {
	local args=(--port 0 --port-file "$DIR/imds.port"
		--instance-id "${LOCAL_EC2_INSTANCE_ID:-i-0123456789abcdef0}"
		--region "${LOCAL_EC2_REGION:-us-east-1}"
		--image-id "${LOCAL_EC2_IMAGE_ID:-ami-0kiln00000000000}"
		--user-data-file "${LOCAL_EC2_USER_DATA:-$DIR/user-data}"
		--public-key "${LOCAL_EC2_PUBLIC_KEY:-ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKilnLocalEc2TestKeyOnlyForTests0000000 launch-key}")
	if [ -n "${LOCAL_EC2_ROLE:-}" ]; then
		args+=(--role "$LOCAL_EC2_ROLE")
	fi
	if [ -n "${LOCAL_EC2_CRED_TTL:-}" ]; then
		args+=(--cred-ttl "$LOCAL_EC2_CRED_TTL")
	fi
	rm -f "$DIR/imds.port"
	$PYTHON "$here/fakes/imds.py" "${args[@]}" >"$DIR/imds.log" 2>&1 &
	track_pid $!
	local port
	port=$(wait_port_file "$DIR/imds.port" $! imds)
	add_env AWS_EC2_METADATA_SERVICE_ENDPOINT "http://127.0.0.1:$port"
	add_env LOCAL_EC2_IMDS "http://127.0.0.1:$port"
}
