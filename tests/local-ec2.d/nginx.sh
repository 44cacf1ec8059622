# The real nginx (Debian's /usr/sbin/nginx), under a prefix of its own:
# it reads $LOCAL_EC2_ROOT/etc/nginx/nginx.conf, written here, and never the
# machine's /etc/nginx or /var/log/nginx. The site layout follows what is
# under the root: sites-enabled (Debian, made when neither is there) or
# conf.d only (Amazon Linux/RHEL). kiln finds the master by its pid file,
# $LOCAL_EC2_ROOT/run/nginx.pid, its default under --root.
#
# Exports LOCAL_EC2_HTTP_PORT, LOCAL_EC2_HTTPS_PORT, LOCAL_EC2_NGINX_STATUS_PORT
# (free ports for nginx.http_port, https_port, status_port),
# LOCAL_EC2_NGINX_CONFIG (a kiln-config snippet setting those) and
# LOCAL_EC2_NGINX_LOG (its error log).
start_nginx() {
	local root=${LOCAL_EC2_ROOT:?LOCAL_EC2_ROOT must name the kiln root nginx serves}
	local binary=${LOCAL_EC2_NGINX:-/usr/sbin/nginx}
	local conf=$root/etc/nginx nginx_dir=$DIR/nginx include user=""
	local http https status

	[ -x "$binary" ] || { echo "local-ec2: no nginx at $binary" >&2; return 1; }
	mkdir -p "$conf" "$root/run" "$nginx_dir/tmp" "$nginx_dir/logs"
	if [ -d "$conf/conf.d" ] && [ ! -d "$conf/sites-enabled" ]; then
		include="$conf/conf.d/*.conf"
	else
		mkdir -p "$conf/sites-available" "$conf/sites-enabled"
		include="$conf/sites-enabled/*"
	fi
	# Workers run as the master's user: as root, nginx would drop to nobody,
	# who cannot read the tests' 0700 scratch directories.
	[ "$(id -u)" = 0 ] && user="user root root;"
	http=$(free_port)
	https=$(free_port)
	status=$(free_port)
	cat >"$conf/nginx.conf" <<-EOF
		# The local EC2's nginx main config (tests/local-ec2.d/nginx.sh).
		$user
		worker_processes 1;
		pid $root/run/nginx.pid;
		error_log $nginx_dir/logs/error.log notice;

		events {
		    worker_connections 256;
		}

		http {
		    include /etc/nginx/mime.types;
		    default_type application/octet-stream;
		    access_log $nginx_dir/logs/access.log;
		    client_body_temp_path $nginx_dir/tmp/body;
		    proxy_temp_path $nginx_dir/tmp/proxy;
		    fastcgi_temp_path $nginx_dir/tmp/fastcgi;
		    uwsgi_temp_path $nginx_dir/tmp/uwsgi;
		    scgi_temp_path $nginx_dir/tmp/scgi;

		    include $include;
		}
	EOF
	"$binary" -p "$nginx_dir" -c "$conf/nginx.conf" -e "$nginx_dir/logs/error.log" \
		>"$nginx_dir/start.log" 2>&1 || {
		echo "local-ec2: nginx did not start:" >&2
		cat "$nginx_dir/start.log" >&2
		return 1
	}
	local pid=""
	for _ in $(seq 100); do
		pid=$(cat "$root/run/nginx.pid" 2>/dev/null || true)
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && break
		pid=""
		sleep 0.05
	done
	[ -n "$pid" ] || { echo "local-ec2: nginx wrote no pid file" >&2; return 1; }
	track_pid "$pid"
	add_env LOCAL_EC2_HTTP_PORT "$http"
	# For the services started after this one: Pebble validates http-01 here.
	export LOCAL_EC2_HTTP_PORT=$http
	add_env LOCAL_EC2_HTTPS_PORT "$https"
	add_env LOCAL_EC2_NGINX_STATUS_PORT "$status"
	add_env LOCAL_EC2_NGINX_LOG "$nginx_dir/logs/error.log"
	add_env LOCAL_EC2_NGINX_CONFIG "nginx: {http_port: $http, https_port: $https, binary: $binary}"
}
