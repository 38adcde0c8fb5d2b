"""Django's SQLite backend, told the real bound-parameter limit.

Django 5.2 assumes SQLite's pre-3.32 limit of 999 parameters, which splits a
1,000-machine inventory page into ~20 INSERTs; SQLite 3.32+ allows 32,766.
With the true limit a page is one statement, as on PostgreSQL.
"""

import sqlite3

from django.db.backends.sqlite3 import base, features


class DatabaseFeatures(features.DatabaseFeatures):
    max_query_params = 32766 if sqlite3.sqlite_version_info >= (3, 32) else 999


class DatabaseWrapper(base.DatabaseWrapper):
    features_class = DatabaseFeatures
