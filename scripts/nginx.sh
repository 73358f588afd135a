# Starts nginx (sourced after lib.sh) serving folder $1 on a free loopback
# port, as a reference for the peer's HTTP server: one worker per core,
# sendfile and keep-alive on, no access log. Sets NGINX (its base URL),
# and NGINX_TLS too: the same over TLS 1.3 on another port, with a
# self-signed P-256 certificate (as a peer's).
# Needs nginx on PATH or in /usr/sbin (apt-get install -y nginx-light).
start_nginx() { # root
  local nginx
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  [ -x "$nginx" ] || { echo "nginx is not installed (apt-get install -y nginx-light)" >&2; exit 1; }
  local port tls_port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$WORK/nginx"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=nginx -keyout "$WORK/nginx/tls.key" -out "$WORK/nginx/tls.crt" 2>/dev/null
  # As root, nginx's workers would run as another user that cannot read
  # the temp folder.
  local user=""
  [ "$(id -u)" = 0 ] && user="user root;"
  cat > "$WORK/nginx/nginx.conf" <<CONF
$user
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    root $1;
  }
  server {
    listen 127.0.0.1:$tls_port ssl;
    ssl_certificate $WORK/nginx/tls.crt;
    ssl_certificate_key $WORK/nginx/tls.key;
    ssl_protocols TLSv1.3;
    root $1;
  }
}
CONF
  "$nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" &
  PIDS+=($!)
  NGINX="http://127.0.0.1:$port"
  NGINX_TLS="https://127.0.0.1:$tls_port"
  until curl -s -o /dev/null "$NGINX/"; do sleep 0.1; done
}
