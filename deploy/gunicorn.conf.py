"""gunicorn's configuration for Parkway: `gunicorn -c deploy/gunicorn.conf.py portal.wsgi`.

Every value can be changed from the environment (the systemd unit reads
/etc/parkway/parkway.env; a platform sets PORT and WEB_CONCURRENCY itself).
"""

import multiprocessing
import os

# Behind a load balancer or reverse proxy on this machine's private address.
# A platform that sets PORT (Heroku, Render, Dokku…) gets all interfaces on it.
_port = os.environ.get("PORT")
bind = os.environ.get("PARKWAY_BIND") or (f"0.0.0.0:{_port}" if _port else "127.0.0.1:8000")

# Requests mostly wait on PostgreSQL (and AWS, for "Test connection"): threads
# overlap that waiting for little memory. Two processes per core, four threads
# each, is a good start; every thread may hold one database connection
# (CONN_MAX_AGE), so keep workers × threads × machines under PostgreSQL's
# max_connections, with room for the qcluster workers.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("PARKWAY_WEB_THREADS", 4))

# A connection test makes a few AWS calls with bounded timeouts; nothing else
# takes long. A worker stuck past this is killed and replaced.
timeout = 60
graceful_timeout = 30
# Longer than the load balancer's idle timeout (AWS ALB: 60 s), so that it never
# sends a request on a connection gunicorn is closing.
keepalive = 75

# Recycle workers now and then (slow leaks), not all at once.
max_requests = 2000
max_requests_jitter = 200

# The heartbeat file on tmpfs: a slow disk must not make workers look dead.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# Logs to stdout/stderr: journald (systemd) or the platform collects them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()

# Addresses allowed to set X-Forwarded-For/-Proto (the proxy in front);
# Django trusts X-Forwarded-Proto only with BEHIND_TLS_PROXY=true.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# No preload: `systemctl reload` (HUP) then starts workers on the new code.
preload_app = False
