"""A web process of its own for tests/portal/test_lockout_processes.py: reads
"username password ip" lines on stdin, posts each to the sign-in page through
Django's full request stack, and prints the status code."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

setup_test_environment()  # the test client's host name, as in the test process
url = sys.argv[1]
print("ready", flush=True)
for line in sys.stdin:
    username, password, ip = line.split()
    response = Client().post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)
    print(response.status_code, flush=True)
