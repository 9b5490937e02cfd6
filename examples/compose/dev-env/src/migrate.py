"""The schema migration: run once, before the app starts, by the `migrate` service."""
import os

import psycopg2

conn = psycopg2.connect(os.environ["DATABASE_URL"])
with conn, conn.cursor() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS notes (id SERIAL PRIMARY KEY, body TEXT NOT NULL)")
    cur.execute("SELECT count(*) FROM notes")
    if cur.fetchone()[0] == 0:
        cur.execute("INSERT INTO notes (body) VALUES (%s)", ("welcome to the dev environment",))
conn.close()
print("migrations applied: notes table ready", flush=True)
