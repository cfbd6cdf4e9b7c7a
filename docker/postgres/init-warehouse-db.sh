#!/usr/bin/env bash
# Runs once, when the postgres service initialises its empty data volume (the official image
# runs /docker-entrypoint-initdb.d/*): the Airflow metadata database is POSTGRES_DB (airflow),
# owned by POSTGRES_USER; this adds the warehouse, a database of its own owned by its own role.
set -euo pipefail

# psql's :'password' quotes the value as an SQL literal: the password never meets a shell or an SQL string.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     --set=password="$WAREHOUSE_DB_PASSWORD" <<'SQL'
CREATE ROLE receivables LOGIN PASSWORD :'password';
CREATE DATABASE receivables OWNER receivables;
SQL
