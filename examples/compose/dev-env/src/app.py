"""The app under development: notes in Postgres, a visit counter in Redis."""
import os

import psycopg2
import redis
from flask import Flask, request

GREETING = "Hello from the dev environment!"

app = Flask(__name__)
cache = redis.Redis(host=os.environ.get("REDIS_HOST", "cache"), port=6379)


def db():
    return psycopg2.connect(os.environ["DATABASE_URL"])


@app.route("/")
def index():
    visits = cache.incr("visits")
    with db() as conn, conn.cursor() as cur:
        cur.execute("SELECT body FROM notes ORDER BY id")
        notes = [row[0] for row in cur]
    return {"greeting": GREETING, "visits": visits, "notes": notes}


@app.route("/notes", methods=["POST"])
def add_note():
    body = request.get_data(as_text=True).strip() or "(empty)"
    with db() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO notes (body) VALUES (%s)", (body,))
    return {"added": body}, 201
